// The runs of set bits of a map's pages, kept once found (PagedBitmap.pageRuns) so that
// a count over pages several maps store can add up the union of a few runs instead of
// reading those pages. All of a map's runs sit in one packed run of the arena, in the
// order they were found (page order, for a count), because a small array per page
// scattered over the heap cost a cache miss a page: 7 ms against 0.4 ms for 8192 places
// at K = 16. In the arena, the kernels read them (popcountRuns) where the pages are.

import { PAGE_BYTES } from '../kernels/api.js';
import type { Arena } from './arena.js';

/** Pages with more runs than this are counted by the kernels, not from their runs. */
export const PAGE_RUNS_LIMIT = 64;
/**
 * Pages with more runs than this are kept only when at least PAGE_RUNS_DENSE of their
 * blocks are set (PagedBitmap.pageRuns says why).
 */
export const PAGE_RUNS_FEW = 16;
export const PAGE_RUNS_DENSE = 24576; // 3/4 of a page's 32768 blocks

const UNKNOWN = -1;
const TOO_MANY = -2;
/** What slot() gives for a page whose runs were not looked for yet (TOO_MANY, -2, for one of too many). */
export const KEPT_UNKNOWN = UNKNOWN;

export class KeptRuns {
  // Per page: where its runs start in the pool, or UNKNOWN / TOO_MANY.
  readonly #at: Int32Array;
  // The pool: an arena run of #slots u16 slots at byte #base (0: none yet). At a slot:
  // n, then n (first, end) pairs of bit numbers within the page, end exclusive.
  #base = 0;
  #slots = 0;
  #top = 0;
  // Pool slots some page still names; the rest is garbage, dropped when the pool grows.
  #live = 0;
  // Pages kept with their runs, and pages found to have too many.
  #withRuns = 0;
  #tooMany = 0;

  constructor(readonly arena: Arena, pages: number, from?: KeptRuns) {
    this.#at = new Int32Array(pages).fill(UNKNOWN);
    if (from) for (let p = 0; p < pages; p++) this.#copy(from, p);
  }

  /** The u16 view at() indexes: the arena's (read it after keep(), which may grow the arena). */
  get pool(): Uint16Array {
    return this.arena.u16;
  }

  /** Arena bytes the pool holds. */
  get bytes(): number {
    return this.#slots === 0 ? 0 : poolBytes(this.#slots);
  }

  /** Gives the pool back to the arena; nothing is kept after. */
  free(): void {
    if (this.#slots !== 0) this.arena.free(this.#base, poolBytes(this.#slots));
    this.#base = 0;
    this.#slots = 0;
    this.#top = 0;
    this.#live = 0;
    this.#withRuns = 0;
    this.#tooMany = 0;
    this.#at.fill(UNKNOWN);
  }

  /** Whether the pages looked at so far mostly had few runs (or none were looked at yet). */
  get mostlyFew(): boolean {
    return this.#withRuns >= this.#tooMany;
  }

  /** Page p's u16 index in `pool`; undefined when not known; -1 when it has too many runs. */
  at(page: number): number | undefined {
    const slot = this.slot(page);
    return slot === UNKNOWN ? undefined : slot === TOO_MANY ? -1 : slot;
  }

  /**
   * Page p's u16 index in `pool` (>= 0), or KEPT_UNKNOWN (-1) / too many (-2): at() without
   * the undefined, for loops over many pages.
   */
  slot(page: number): number {
    const at = this.#at[page]!;
    return at >= 0 ? (this.#base >>> 1) + at : at;
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
    if (this.#top + size > this.#slots) this.#grow(size);
    const at = this.#top;
    const u16 = this.arena.u16;
    const slot = (this.#base >>> 1) + at;
    u16[slot] = runs.length / 2;
    u16.set(runs, slot + 1);
    this.#top += size;
    this.#live += size;
    this.#withRuns++;
    this.#at[page] = at;
    return slot;
  }

  /** Page p changed: its runs are no longer known. */
  forget(page: number): void {
    const at = this.#at[page]!;
    if (at >= 0) {
      this.#live -= 1 + 2 * this.arena.u16[(this.#base >>> 1) + at]!;
      this.#withRuns--;
    } else if (at === TOO_MANY) this.#tooMany--;
    this.#at[page] = UNKNOWN;
  }

  /** Makes room for `size` more slots: drops the garbage, doubling the pool if still short. */
  #grow(size: number): void {
    const oldBase = this.#base;
    const oldSlots = this.#slots;
    const slots = Math.max(oldSlots, MIN_SLOTS, 2 * (this.#live + size));
    const base = this.arena.alloc(poolBytes(slots));
    // The arena may have grown: views only now.
    const u16 = this.arena.u16;
    const from = oldBase >>> 1;
    const to = base >>> 1;
    this.#top = 0;
    this.#live = 0;
    for (let p = 0; p < this.#at.length; p++) {
      const at = this.#at[p]!;
      if (at < 0) continue;
      const n = 1 + 2 * u16[from + at]!;
      u16.copyWithin(to + this.#top, from + at, from + at + n);
      this.#at[p] = this.#top;
      this.#top += n;
      this.#live += n;
    }
    if (oldSlots !== 0) this.arena.free(oldBase, poolBytes(oldSlots));
    this.#base = base;
    this.#slots = slots;
  }

  #copy(from: KeptRuns, page: number): void {
    const at = from.at(page);
    if (at === undefined) return;
    if (at < 0) this.keep(page, null);
    else this.keep(page, Array.from(from.pool.subarray(at + 1, at + 1 + 2 * from.pool[at]!)));
  }
}

// The first pool holds 2048 slots (one arena page of 4 KiB).
const MIN_SLOTS = 2048;

function poolBytes(slots: number): number {
  return Math.ceil((2 * slots) / PAGE_BYTES) * PAGE_BYTES;
}
