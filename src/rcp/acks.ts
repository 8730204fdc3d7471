// Who below a node has which frames. Every next hop reports a map of destination → highest
// frame acknowledged for its whole subtree; the local application is one more source. A
// destination's standing is the best any source reports (after a forwarder fails, its
// children report directly, and an old report never lowers a newer one). Pure: time is
// an argument.

export interface AckReport {
  acks: Record<string, number>;
  failed: Record<string, string>;
}

interface Progress {
  acked: number;
  since: number;
}

export class Acks {
  readonly #sources = new Map<string, Map<string, number>>();
  readonly #failed = new Map<string, string>();
  readonly #progress = new Map<string, Progress>();

  /**
   * Takes what `source` now reports about its subtree: the names it lists replace the ones
   * it listed before (a placeholder for a hop gives way to the hop's real destinations),
   * and a value never goes down. Returns true when any destination moved.
   */
  report(source: string, report: AckReport, now: number): boolean {
    const old = this.#sources.get(source);
    const map = new Map<string, number>();
    for (const [name, acked] of Object.entries(report.acks)) map.set(name, Math.max(old?.get(name) ?? 0, acked));
    this.#sources.set(source, map);
    let moved = false;
    for (const name of old?.keys() ?? []) {
      // A name this source no longer reports may have been the one holding the floor down.
      if (!map.has(name)) moved = this.#forgetIfUnreported(name) || true;
    }
    for (const name of map.keys()) moved = this.#touch(name, now) || moved;
    for (const [name, reason] of Object.entries(report.failed)) {
      if (!this.#failed.has(name)) {
        this.#failed.set(name, reason);
        moved = true;
      }
    }
    return moved;
  }

  /** Forgets one name of a source's report (until the source reports it again). */
  forget(source: string, name: string): void {
    this.#sources.get(source)?.delete(name);
    this.#forgetIfUnreported(name);
  }

  /** Forgets a source: someone else now reports for its destinations. */
  drop(source: string): void {
    const names = this.namesOf(source);
    this.#sources.delete(source);
    for (const name of names) this.#forgetIfUnreported(name);
  }

  /** The destinations `source` last reported. */
  namesOf(source: string): string[] {
    return [...(this.#sources.get(source)?.keys() ?? [])];
  }

  /** The best standing any source reports for `name`. */
  ackedOf(name: string): number {
    let acked = 0;
    for (const map of this.#sources.values()) acked = Math.max(acked, map.get(name) ?? 0);
    return acked;
  }

  /** Marks a destination as lost: it no longer holds frames back. */
  /** How many destinations have been given up. */
  get failures(): number {
    return this.#failed.size;
  }

  fail(name: string, reason: string): void {
    if (!this.#failed.has(name)) this.#failed.set(name, reason);
  }

  /** The destinations still being served, with the frame each has acknowledged. */
  active(): Map<string, number> {
    const view = new Map<string, number>();
    for (const map of this.#sources.values()) {
      for (const [name, acked] of map) {
        if (!this.#failed.has(name)) view.set(name, Math.max(view.get(name) ?? 0, acked));
      }
    }
    return view;
  }

  /** Every frame up to this one is held by every active destination (Infinity: none left). */
  floor(): number {
    let floor = Infinity;
    for (const acked of this.active().values()) floor = Math.min(floor, acked);
    return floor;
  }

  /**
   * A new frame `target` exists: destinations that had everything before it start their
   * stall clock now, not when they last moved (an idle session is not a stalled one).
   */
  advance(target: number, now: number): void {
    for (const [name, progress] of this.#progress) {
      if (progress.acked >= target - 1) progress.since = now;
    }
  }

  /** Active destinations behind `target` whose standing has not moved for `giveUpMs`. */
  stalled(target: number, giveUpMs: number, now: number): string[] {
    const names: string[] = [];
    for (const [name, acked] of this.active()) {
      const progress = this.#progress.get(name);
      if (acked < target && progress && now - progress.since >= giveUpMs) names.push(name);
    }
    return names;
  }

  /** What this node reports to its upstream. */
  summary(): AckReport {
    return { acks: Object.fromEntries(this.active()), failed: Object.fromEntries(this.#failed) };
  }

  /** A destination no source reports any more starts afresh if one reports it again. */
  #forgetIfUnreported(name: string): boolean {
    for (const map of this.#sources.values()) if (map.has(name)) return false;
    this.#progress.delete(name);
    return true;
  }

  #touch(name: string, now: number): boolean {
    const acked = this.ackedOf(name);
    const progress = this.#progress.get(name);
    if (!progress) {
      this.#progress.set(name, { acked, since: now });
      return true;
    }
    if (acked > progress.acked) {
      this.#progress.set(name, { acked, since: now });
      return true;
    }
    return false;
  }
}
