// What the status page plots: per destination of a replicated volume, its lag and the
// bytes it played per second, sampled every 10 s over the last hour. Throughput is read
// from the sets a destination played since the last sample (each set says its bytes).

export interface PrimaryView {
  name: string;
  destinations: { node: string; lagSeconds: number | null; currentDeltaSet: number | null }[];
  sets: { n: number; bytes: number }[];
}

/** One sample: [time in seconds since the epoch, lag in seconds (null before the first set), bytes per second]. */
export type Sample = [number, number | null, number];

export const SAMPLE_EVERY_MS = 10_000;
export const KEEP_MS = 60 * 60_000;

/** The key of one destination's series: `<volume> → <node>`. */
export const seriesKey = (volume: string, node: string): string => `${volume} → ${node}`;

export class History {
  readonly #series = new Map<string, Sample[]>();
  readonly #played = new Map<string, { set: number | null; at: number }>();
  readonly #keep: number;

  constructor(keep = Math.ceil(KEEP_MS / SAMPLE_EVERY_MS)) {
    this.#keep = keep;
  }

  /** Takes one sample of every destination of `primaries`; destinations no longer there are forgotten. */
  sample(primaries: PrimaryView[], now: number): void {
    const seen = new Set<string>();
    for (const primary of primaries) {
      for (const d of primary.destinations) {
        const key = seriesKey(primary.name, d.node);
        seen.add(key);
        const rate = this.#rate(key, primary, d.currentDeltaSet, now);
        const series = this.#series.get(key) ?? [];
        series.push([Math.floor(now / 1000), d.lagSeconds, rate]);
        if (series.length > this.#keep) series.splice(0, series.length - this.#keep);
        this.#series.set(key, series);
      }
    }
    for (const key of [...this.#series.keys()]) {
      if (!seen.has(key)) {
        this.#series.delete(key);
        this.#played.delete(key);
      }
    }
  }

  /** Every series, by key, oldest sample first. */
  toJSON(): Record<string, Sample[]> {
    return Object.fromEntries([...this.#series].map(([key, samples]) => [key, [...samples]]));
  }

  #rate(key: string, primary: PrimaryView, played: number | null, now: number): number {
    const before = this.#played.get(key);
    this.#played.set(key, { set: played, at: now });
    if (!before || played === null) return 0;
    const seconds = (now - before.at) / 1000;
    if (seconds <= 0) return 0;
    const from = before.set ?? -1;
    const bytes = primary.sets.filter((s) => s.n > from && s.n <= played).reduce((sum, s) => sum + s.bytes, 0);
    return bytes / seconds;
  }
}
