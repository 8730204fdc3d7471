// A node's metrics, rendered in the Prometheus text format (version 0.0.4) at /metrics.
// Counters are kept here as the node's parts count events; gauges are read when a scrape
// asks (collect callbacks), so nothing is sampled between scrapes.

type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
}

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A label value escaped as the text format wants (backslash, quote, newline). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

export class Counter {
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  constructor(readonly family: Family) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    const entry = this.#values.get(key);
    if (entry) entry.value += by;
    else this.#values.set(key, { labels, value: by });
  }

  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels))?.value ?? 0;
  }

  samples(): { labels: Labels; value: number }[] {
    return [...this.#values.values()];
  }
}

export type GaugeSample = { labels: Labels; value: number };

export class Metrics {
  readonly #counters = new Map<string, Counter>();
  readonly #collected = new Map<string, { family: Family; collect: () => GaugeSample[] | Promise<GaugeSample[]> }>();

  /** The counter of that name (made on first use; the same object after). */
  counter(name: string, help: string): Counter {
    let counter = this.#counters.get(name);
    if (!counter) {
      counter = new Counter({ name, help, type: 'counter' });
      this.#counters.set(name, counter);
    }
    return counter;
  }

  /** A gauge whose samples are read at each scrape. */
  gauge(name: string, help: string, collect: () => GaugeSample[] | Promise<GaugeSample[]>): void {
    this.#collected.set(name, { family: { name, help, type: 'gauge' }, collect });
  }

  /** A counter kept elsewhere (a part that must not import this registry), read at each scrape. */
  collectedCounter(name: string, help: string, collect: () => GaugeSample[] | Promise<GaugeSample[]>): void {
    this.#collected.set(name, { family: { name, help, type: 'counter' }, collect });
  }

  /** Every family in the text format, counters first, each with HELP and TYPE lines. */
  async render(): Promise<string> {
    const lines: string[] = [];
    const emit = (family: Family, samples: GaugeSample[]) => {
      lines.push(`# HELP ${family.name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
      lines.push(`# TYPE ${family.name} ${family.type}`);
      for (const s of samples) lines.push(`${family.name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
    };
    for (const counter of this.#counters.values()) emit(counter.family, counter.samples());
    for (const { family, collect } of this.#collected.values()) emit(family, await collect());
    return `${lines.join('\n')}\n`;
  }
}
