// The runs of set bits of a map's pages, kept once found (PagedBitmap.pageRuns) so that
// a count over pages several maps store can add up the union of a few runs instead of
// reading those pages. All of a map's runs sit in one packed array, in the order they
// were found (page order, for a count), because a small array per page scattered over
// the heap cost a cache miss a page: 7 ms against 0.4 ms for 8192 places at K = 16.

/** Pages with more runs than this are counted by the kernels, not from their runs. */
export const PAGE_RUNS_LIMIT = 16;

const UNKNOWN = -1;
const TOO_MANY = -2;

export class KeptRuns {
  // Per page: where its runs start in the pool, or UNKNOWN / TOO_MANY.
  readonly #at: Int32Array;
  // At an offset: n, then n (first, end) pairs of bit numbers within the page, end exclusive.
  #pool = new Uint16Array(1024);
  #top = 0;
  // Pool slots some page still names; the rest is garbage, dropped when the pool grows.
  #live = 0;
  // Pages kept with their runs, and pages found to have too many.
  #withRuns = 0;
  #tooMany = 0;

  constructor(pages: number, from?: KeptRuns) {
    this.#at = new Int32Array(pages).fill(UNKNOWN);
    if (from) for (let p = 0; p < pages; p++) this.#copy(from, p);
  }

  /** The pool the offsets index (replaced when it grows: read it after keep()). */
  get pool(): Uint16Array {
    return this.#pool;
  }

  /** Whether the pages looked at so far mostly had few runs (or none were looked at yet). */
  get mostlyFew(): boolean {
    return this.#withRuns >= this.#tooMany;
  }

  /** Page p's offset in the pool; undefined when not known; -1 when it has too many runs. */
  at(page: number): number | undefined {
    const at = this.#at[page]!;
    return at === UNKNOWN ? undefined : at === TOO_MANY ? -1 : at;
  }

  /** Keeps page p's runs ([first, end) pairs, ascending), or null for too many. Returns at(p). */
  keep(page: number, runs: readonly number[] | null): number {
    this.forget(page);
    if (runs === null) {
      this.#at[page] = TOO_MANY;
      this.#tooMany++;
      return -1;
    }
    const size = 1 + runs.length;
    if (this.#top + size > this.#pool.length) this.#grow(size);
    const at = this.#top;
    this.#pool[at] = runs.length / 2;
    this.#pool.set(runs, at + 1);
    this.#top += size;
    this.#live += size;
    this.#withRuns++;
    this.#at[page] = at;
    return at;
  }

  /** Page p changed: its runs are no longer known. */
  forget(page: number): void {
    const at = this.#at[page]!;
    if (at >= 0) {
      this.#live -= 1 + 2 * this.#pool[at]!;
      this.#withRuns--;
    } else if (at === TOO_MANY) this.#tooMany--;
    this.#at[page] = UNKNOWN;
  }

  /** Makes room for `size` more slots: drops the garbage, doubling the pool if still short. */
  #grow(size: number): void {
    const old = this.#pool;
    const oldAt = Int32Array.from(this.#at);
    const length = Math.max(old.length, 2 * (this.#live + size));
    this.#pool = new Uint16Array(length);
    this.#top = 0;
    this.#live = 0;
    for (let p = 0; p < oldAt.length; p++) {
      const at = oldAt[p]!;
      if (at < 0) continue;
      const n = 1 + 2 * old[at]!;
      this.#pool.set(old.subarray(at, at + n), this.#top);
      this.#at[p] = this.#top;
      this.#top += n;
      this.#live += n;
    }
  }

  #copy(from: KeptRuns, page: number): void {
    const at = from.at(page);
    if (at === undefined) return;
    if (at < 0) this.keep(page, null);
    else this.keep(page, Array.from(from.pool.subarray(at + 1, at + 1 + 2 * from.pool[at]!)));
  }
}
