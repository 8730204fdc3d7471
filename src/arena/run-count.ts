// The set bits of pages several maps store, counted from the runs each map keeps of
// its page (PagedBitmap.pageRuns, kept-runs.ts) by the popcountRuns kernel, a batch of
// pages a call. Used by the plain count over the stored pages (delta-scan.ts) where
// reading the pages costs more than the runs: a clustered page is ~30 runs (120 bytes)
// against 4 KiB of bits, and where the maps are dense their union's gaps shrink to a few
// after two maps, so each further map costs a search, not a read of its page.

import { RUNS_SCRATCH_BYTES } from '../kernels/api.js';
import type { Arena } from './arena.js';
import type { PageScratch, PagedBitmap } from './bitmap.js';
import { KEPT_UNKNOWN } from './kept-runs.js';

/** Bytes of the page list handed to the kernel a call. */
const LIST_BYTES = 65536;
/** What #list did with a page. */
const LISTED = 0;
const NOT_LISTED = 1;
const UNKNOWN_RUNS = 2;

export class RunCount {
  readonly #stored: Uint32Array[];
  readonly #base: number; // the kernel's scratch, then the list
  readonly #listAt: number; // byte offset of the list
  readonly #list0: number; // its u32 index
  readonly #capacity: number; // u32 words of the list
  // A view of the arena, taken again whenever runs are found (which may grow it).
  #u32: Uint32Array;
  #words = 0; // u32 words listed
  #pages = 0;
  #total = 0;

  constructor(readonly arena: Arena, readonly bitmaps: readonly PagedBitmap[], readonly space: PageScratch) {
    this.#stored = bitmaps.map((map) => map.stored.words);
    // One page of every map must fit a list: 2 + K words.
    const listBytes = Math.max(LIST_BYTES, 4 * (2 + bitmaps.length));
    this.#base = arena.allocScratch(RUNS_SCRATCH_BYTES + listBytes);
    this.#listAt = this.#base + RUNS_SCRATCH_BYTES;
    this.#list0 = this.#listAt >>> 2;
    this.#capacity = listBytes / 4;
    this.#u32 = arena.u32;
  }

  /**
   * Lists page p (its blocks end `size` in) to be counted from runs; false when it is
   * not (a map keeps no runs of it: too many, PagedBitmap.pageRuns): then it is the
   * caller's to count.
   */
  add(page: number, size: number): boolean {
    const listed = this.#list(page, size);
    if (listed !== UNKNOWN_RUNS) return listed === LISTED;
    // Runs not kept yet are found now, which may move a map's pool and grow the arena:
    // what is listed goes to the kernel first.
    this.#flush();
    const w = page >>> 5;
    const bit = 1 << (page & 31);
    for (let m = 0; m < this.bitmaps.length; m++) {
      if ((this.#stored[m]![w]! & bit) !== 0) this.bitmaps[m]!.pageRuns(page, this.space);
    }
    this.#u32 = this.arena.u32;
    return this.#list(page, size) === LISTED;
  }

  /** Lists page p from the runs its maps keep: LISTED, NOT_LISTED, or UNKNOWN_RUNS when some are not kept yet. */
  #list(page: number, size: number): number {
    const stored = this.#stored;
    const bitmaps = this.bitmaps;
    const w = page >>> 5;
    const bit = 1 << (page & 31);
    const k = bitmaps.length;
    if (this.#words + 2 + k > this.#capacity) this.#flush();
    // A WebAssembly memory that grew leaves old views empty (nothing here grows it, but
    // a view that would drop every write must not go unnoticed).
    if (this.#u32.length === 0) this.#u32 = this.arena.u32;
    const u32 = this.#u32;
    const at = this.#list0 + this.#words;
    let n = 0;
    for (let m = 0; m < k; m++) {
      if ((stored[m]![w]! & bit) === 0) continue;
      const map = bitmaps[m]!;
      const runs = map.keptRuns(page);
      if (runs < 0) return runs === KEPT_UNKNOWN ? UNKNOWN_RUNS : NOT_LISTED;
      u32[at + 2 + n++] = 2 * runs;
    }
    if (n === 0) return NOT_LISTED;
    u32[at] = size;
    u32[at + 1] = n;
    this.#words += 2 + n;
    this.#pages++;
    return LISTED;
  }

  /** The set bits of every page listed. */
  finish(): number {
    this.#flush();
    return this.#total;
  }

  free(): void {
    this.arena.free(this.#base, RUNS_SCRATCH_BYTES + this.#capacity * 4);
  }

  #flush(): void {
    if (this.#pages === 0) return;
    this.#total += this.arena.kernels.popcountRuns(this.#listAt, this.#pages, this.#base);
    this.#words = 0;
    this.#pages = 0;
  }
}
