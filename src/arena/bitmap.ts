// A bit map as a page table in the arena (FIG. 43): entry p names the page for bits
// [p * PAGE_BLOCKS, (p + 1) * PAGE_BLOCKS), or ZERO_PAGE / ONES_PAGE when that page
// is all zeros / all ones and so is neither stored nor read. A map made with
// { sparse: true } keeps pages with few bits as sparse pages (sparse-page.ts); only
// the delta scan and count kernels read those, and only in bit maps, so meta maps
// (and anything else handed to other kernels) stay dense.

import { invalidArgument, outOfRange, SnapcopyError } from '../errors.js';
import { ACC_BYTES, MAX_BLOCKS, ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, PAGE_SHIFT, SPARSE_TAG, ZERO_PAGE } from '../kernels/api.js';
import type { Arena } from './arena.js';
import { KEPT_UNKNOWN, KeptRuns, PAGE_RUNS_DENSE, PAGE_RUNS_FEW, PAGE_RUNS_LIMIT } from './kept-runs.js';
import { Occupancy, walkStored } from './occupancy.js';
import {
  SPARSE_LIMIT, SPARSE_LOW, copySparse, countUpTo, densify, freeSparse, isSparse, newSparse, orSparseInto, sparseCount,
  sparseFromDense, sparseHas, sparseSlot, sparseSlotBytes, unionSparse, writeSparse,
} from './sparse-page.js';

export interface BitmapOptions {
  /**
   * Keep pages with at most SPARSE_LIMIT bits as sparse pages (a u16 list instead of
   * 4 KiB). Only for bit maps the delta scan reads as bit maps, never meta maps.
   */
  sparse?: boolean;
}

export class PagedBitmap {
  readonly arena: Arena;
  #bits: number;
  #pages: number;
  #table: number;
  // Which entries are stored and which are not all ones (the second level over the
  // table); and what is known of pages since they last changed: the set bits of dense
  // pages (count + 1; 0 = not known), and their runs (kept-runs.ts). Both live in the JS
  // heap beside the table: about 8 bytes a page that was counted, and 4 a run kept.
  #stored: Occupancy;
  #notFull: Occupancy;
  #counts: Uint16Array | undefined;
  #runs: KeptRuns | undefined;
  readonly sparse: boolean;

  private constructor(arena: Arena, bits: number, sparse: boolean) {
    this.arena = arena;
    this.sparse = sparse;
    this.#bits = bits;
    this.#pages = pagesFor(bits);
    this.#table = arena.alloc(this.#pages * 4);
    this.#stored = new Occupancy(this.#pages, ZERO_PAGE);
    this.#notFull = new Occupancy(this.#pages, ONES_PAGE);
  }

  /** Bits covered: 0..bits-1. */
  get bits(): number {
    return this.#bits;
  }

  /** Entries in the page table. */
  get pages(): number {
    return this.#pages;
  }

  /**
   * Makes the map cover `bits` bits (a volume resized): bits past the old end read
   * as zeros, bits past the new end are dropped with their pages.
   */
  resize(bits: number): void {
    if (!Number.isSafeInteger(bits) || bits < 0 || bits > MAX_BLOCKS) {
      throw invalidArgument(`a bit map holds 0 to ${MAX_BLOCKS} bits, not ${bits}`);
    }
    const old = this.#bits;
    if (bits === old) return;
    // Bits of the last page kept, past the shorter end, must be zeros whichever way the map goes.
    const keep = Math.min(old, bits);
    const tail = (size: number) => Math.min(size, pagesFor(keep) * PAGE_BLOCKS);
    if (bits < old) this.clearRange(keep, tail(old));
    const pages = pagesFor(bits);
    const table = this.arena.alloc(pages * 4);
    for (let p = 0; p < pages; p++) this.arena.u32[(table >>> 2) + p] = p < this.#pages ? this.entry(p) : ZERO_PAGE;
    for (let p = pages; p < this.#pages; p++) this.#freeEntry(this.entry(p));
    this.arena.free(this.#table, this.#pages * 4);
    this.#table = table;
    this.#pages = pages;
    this.#bits = bits;
    this.#stored = new Occupancy(pages, ZERO_PAGE);
    this.#notFull = new Occupancy(pages, ONES_PAGE);
    this.#stored.rebuild(this.#tableView());
    this.#notFull.rebuild(this.#tableView());
    this.#counts = undefined;
    this.#runs?.free();
    this.#runs = undefined;
    if (bits > old) this.clearRange(old, tail(bits));
  }

  /** An all-zeros map of `bits` bits: a page table of ZERO_PAGE entries and no pages. */
  static create(arena: Arena, bits: number, options: BitmapOptions = {}): PagedBitmap {
    if (!Number.isSafeInteger(bits) || bits < 0 || bits > MAX_BLOCKS) {
      throw invalidArgument(`a bit map holds 0 to ${MAX_BLOCKS} bits, not ${bits}`);
    }
    return new PagedBitmap(arena, bits, options.sparse === true);
  }

  /** The arena offset of the page table (what the kernels take). */
  get table(): number {
    if (this.#table === 0) throw new SnapcopyError('ERR_FREED', 'this bit map was freed');
    return this.#table;
  }

  /** Entry p of the page table: a page offset, ZERO_PAGE, ONES_PAGE, or a sparse page (offset | SPARSE_TAG). */
  entry(page: number): number {
    return this.arena.u32[(this.table >>> 2) + page]!;
  }

  setEntry(page: number, entry: number): void {
    this.arena.u32[(this.table >>> 2) + page] = entry;
    this.#stored.note(page, entry);
    this.#notFull.note(page, entry);
    this.#forgetKept(page);
  }

  /** Which entries are stored (not ZERO_PAGE): the second level plain deltas walk (occupancy.ts). */
  get stored(): Occupancy {
    return this.#stored;
  }

  /** Which entries are not ONES_PAGE: where a meta map has granules not in use. */
  get notFull(): Occupancy {
    return this.#notFull;
  }

  /**
   * Set bits of page p, without reading it when that is known: a sentinel, a sparse page
   * (its list's length), or a dense page counted before and unchanged since. Otherwise
   * the kernels count it, in `scratch`, and it is kept.
   */
  pageCount(page: number, scratch: PageScratch): number {
    // Kept only for dense pages, and dropped whenever the page or its entry changes.
    const known = this.#counts?.[page] ?? 0;
    if (known !== 0) return known - 1;
    const entry = this.entry(page);
    if (entry <= ONES_PAGE) return entry === ONES_PAGE ? PAGE_BLOCKS : 0;
    if (isSparse(entry)) return sparseCount(this.arena, entry);
    const arena = this.arena;
    arena.u32[scratch.list >>> 2] = this.table;
    const start = page * PAGE_BLOCKS;
    const count = arena.kernels.popcountPlain(scratch.list, 1, start, Math.min(this.bits, start + PAGE_BLOCKS), scratch.acc);
    (this.#counts ??= new Uint16Array(this.#pages))[page] = count + 1;
    return count;
  }

  /**
   * Where the runs of set bits of page p are in `runPool` (kept-runs.ts), when it has at
   * most PAGE_RUNS_FEW of them, or at most PAGE_RUNS_LIMIT over a page mostly set
   * (countable, below); -1 when not (or it is a sparse page of scattered bits). An
   * all-ones page is one run; a sparse page's list and a dense page (by the scan kernel)
   * are read once and their runs kept until the page changes.
   */
  pageRuns(page: number, scratch: PageScratch): number {
    const kept = this.#runs?.at(page);
    if (kept !== undefined) return kept;
    const entry = this.entry(page);
    let runs: number[] | null;
    if (entry === ZERO_PAGE) runs = [];
    else if (entry === ONES_PAGE) runs = [0, PAGE_BLOCKS];
    else if (isSparse(entry)) runs = sparseRuns(this.arena, entry);
    else runs = scanRuns(this, page, scratch);
    return (this.#runs ??= new KeptRuns(this.arena, this.#pages)).keep(page, countable(runs));
  }

  /**
   * Page p's runs in `runPool` as pageRuns gives them when they are kept, without finding
   * them when not: KEPT_UNKNOWN (kept-runs.ts) then, another negative number for too many.
   */
  keptRuns(page: number): number {
    return this.#runs === undefined ? KEPT_UNKNOWN : this.#runs.slot(page);
  }

  /** Whether counting this map's pages from their runs pays: true until most pages looked at had too many. */
  get runsPay(): boolean {
    return this.#runs?.mostlyFew ?? true;
  }

  /** The pool pageRuns' offsets index: n, then n [first, end) pairs (valid until the next pageRuns). */
  get runPool(): Uint16Array {
    return this.#runs?.pool ?? EMPTY_POOL;
  }

  get(bit: number): boolean {
    this.#check(bit, bit + 1);
    const entry = this.entry(bit >>> PAGE_SHIFT);
    if (entry === ZERO_PAGE) return false;
    if (entry === ONES_PAGE) return true;
    const inPage = bit & (PAGE_BLOCKS - 1);
    if (isSparse(entry)) return sparseHas(this.arena, entry, inPage);
    return ((this.arena.u8[entry + (inPage >>> 3)]! >>> (inPage & 7)) & 1) === 1;
  }

  set(bit: number): void {
    this.setRange(bit, bit + 1);
  }

  clear(bit: number): void {
    this.clearRange(bit, bit + 1);
  }

  /** Sets bits [from, to); whole pages become ONES_PAGE and stop being stored. */
  setRange(from: number, to: number): void {
    this.#check(from, to);
    this.#eachPage(from, to, true);
  }

  /** Clears bits [from, to); whole pages become ZERO_PAGE and stop being stored. */
  clearRange(from: number, to: number): void {
    this.#check(from, to);
    this.#eachPage(from, to, false);
  }

  /** The number of set bits: the stored pages' counts (pageCount), kept for the next time. */
  popcount(): number {
    const arena = this.arena;
    const bytes = ACC_BYTES + 16;
    const base = arena.alloc(bytes);
    // Only counts here: no extents, so no room for them.
    const scratch = { acc: base, list: base + ACC_BYTES, out: 0 };
    let total = 0;
    try {
      // One map: every stored page is stored by it alone.
      walkStored([this.#stored], 0, this.pages, {
        shared: () => {},
        single: (page) => { total += this.pageCount(page, scratch); },
      });
      return total;
    } finally {
      arena.free(base, bytes);
    }
  }

  /** An independent copy (its own page table and pages) in the same arena. */
  clone(): PagedBitmap {
    const copy = new PagedBitmap(this.arena, this.bits, this.sparse);
    for (let p = 0; p < this.pages; p++) {
      const entry = this.entry(p);
      if (entry <= ONES_PAGE) {
        copy.setEntry(p, entry);
        continue;
      }
      if (isSparse(entry)) {
        copy.setEntry(p, copySparse(this.arena, entry));
        continue;
      }
      const page = this.arena.allocPage();
      this.arena.u8.copyWithin(page, entry, entry + PAGE_BYTES);
      copy.setEntry(p, page);
    }
    // The same bytes: what was counted here is the copy's count too.
    copy.#counts = this.#counts?.slice();
    copy.#runs = this.#runs && new KeptRuns(copy.arena, this.#pages, this.#runs);
    return copy;
  }

  /** Makes this map's bits equal to `other`'s (same size), freeing what it held; the pages keep this map's form. */
  assign(other: PagedBitmap): void {
    if (other.bits !== this.bits) throw invalidArgument(`cannot assign a map of ${other.bits} bits to one of ${this.bits}`);
    const copy = other.clone();
    for (let p = 0; p < this.pages; p++) {
      this.#freeEntry(this.entry(p));
      this.setEntry(p, this.#ownForm(copy.entry(p)));
      copy.setEntry(p, ZERO_PAGE);
    }
    copy.free();
  }

  /** ORs `other` into this map with the kernels' merge; `other` is consumed (freed). */
  mergeFrom(other: PagedBitmap): void {
    if (other.bits !== this.bits || other.arena !== this.arena) throw invalidArgument('maps to merge must match in size and arena');
    // The merge kernel reads dense pages only: pages where either side is sparse merge here.
    let mine = this.#tableView();
    let theirs = other.#tableView();
    // Our pages change where theirs are stored, some in place (the kernel ORs into them).
    theirs.forEach((entry, p) => { if (entry !== ZERO_PAGE) this.#forgetKept(p); });
    for (let p = 0; p < this.pages; p++) {
      const entry = theirs[p]!;
      if (isSparse(entry) || (entry !== ZERO_PAGE && isSparse(mine[p]!))) {
        this.#mergeSparse(p, entry);
        other.setEntry(p, ZERO_PAGE);
        [mine, theirs] = [this.#tableView(), other.#tableView()]; // the merge may have grown the arena
      }
    }
    const before = mine.slice();
    this.arena.kernels.orMerge(this.table, other.table, this.pages);
    [mine, theirs] = [this.#tableView(), other.#tableView()];
    for (let p = 0; p < this.pages; p++) {
      const now = mine[p]!;
      const was = before[p]!;
      const entry = theirs[p]!;
      // Free what no table names any more: a page of ours replaced, a page of theirs not adopted.
      if (was > ONES_PAGE && now !== was) this.arena.freePage(was);
      if (entry > ONES_PAGE && now !== entry) this.arena.freePage(entry);
    }
    this.#stored.rebuild(mine);
    this.#notFull.rebuild(mine);
    theirs.fill(ZERO_PAGE);
    other.free();
  }

  /**
   * ANDs `other` into this map; `other` is left as it was. Dense maps only (meta maps:
   * a fold of a delta's interval intersects them, see src/checkpoint/delta-fold.ts).
   */
  andWith(other: PagedBitmap): void {
    if (other.bits !== this.bits || other.arena !== this.arena) throw invalidArgument('maps to intersect must match in size and arena');
    if (this.sparse || other.sparse) throw invalidArgument('only maps without sparse pages can be intersected');
    let table = this.#tableView();
    let others = other.#tableView();
    for (let p = 0; p < this.pages; p++) {
      const mine = table[p]!;
      const theirs = others[p]!;
      if (mine === ZERO_PAGE || theirs === ONES_PAGE) continue;
      if (theirs === ZERO_PAGE) this.#replacePage(p, ZERO_PAGE);
      else if (mine === ONES_PAGE) {
        const page = this.arena.allocPage();
        this.arena.u8.copyWithin(page, theirs, theirs + PAGE_BYTES);
        this.setEntry(p, page);
        [table, others] = [this.#tableView(), other.#tableView()]; // allocating may have grown the arena
      } else if (!andPage(this.arena.u32, mine, theirs)) this.#replacePage(p, ZERO_PAGE);
      else this.#forgetKept(p);
    }
  }

  /** Stored pages (not sentinels), dense or sparse: the pages a scan reads. */
  storedPages(): number {
    let n = 0;
    for (let p = 0; p < this.pages; p++) if (this.entry(p) > ONES_PAGE) n++;
    return n;
  }

  /** Bytes a scan reads of the stored pages: a dense page whole, a sparse page its count and bit list. */
  storedBytes(): number {
    let bytes = 0;
    for (let p = 0; p < this.pages; p++) {
      const entry = this.entry(p);
      if (entry <= ONES_PAGE) continue;
      bytes += isSparse(entry) ? 2 + 2 * sparseCount(this.arena, entry) : PAGE_BYTES;
    }
    return bytes;
  }

  /** Stored pages in the sparse form. */
  sparsePages(): number {
    let n = 0;
    for (let p = 0; p < this.pages; p++) if (isSparse(this.entry(p))) n++;
    return n;
  }

  /**
   * Moves the sparse pages' slots to ascending offsets in page order, each slot size on
   * its own (a stream per size), for a map that is done changing (a sealed checkpoint's,
   * one staged from its files): the delta kernels read a map's pages in order, and slots
   * placed as writes came (at random, for random writes) cost them a cache miss a page.
   * The arena hands out free slots lowest first, so the new slots are all taken before
   * the old ones are given back; a map whose slots ascend already (one loaded page by
   * page) is left alone. Bits, forms and what the map keeps of its pages (counts, runs)
   * stay as they are.
   */
  packSparse(): void {
    const arena = this.arena;
    const pages: number[] = [];
    const sizes: number[] = [];
    const lastOfSize = new Map<number, number>();
    let ascending = true;
    for (let p = 0; p < this.pages; p++) {
      const entry = this.entry(p);
      if (!isSparse(entry)) continue;
      const size = sparseSlotBytes(sparseCount(arena, entry));
      pages.push(p);
      sizes.push(size);
      ascending &&= entry > (lastOfSize.get(size) ?? 0);
      lastOfSize.set(size, entry);
    }
    if (ascending) return;
    const slots = sizes.map((size) => arena.allocSmall(size));
    // Read after allocating: the arena's memory may have grown, and its views with it.
    const u8 = arena.u8;
    const table = arena.u32.subarray(this.table >>> 2, (this.table >>> 2) + this.pages);
    pages.forEach((p, i) => {
      const entry = table[p]!;
      const from = sparseSlot(entry);
      u8.copyWithin(slots[i]!, from, from + 2 + 2 * sparseCount(arena, entry));
      freeSparse(arena, entry);
      table[p] = slots[i]! + SPARSE_TAG;
    });
  }

  /** Arena bytes the map holds, exactly as the arena counts them: its page table, dense pages, sparse slots and kept runs. */
  bytesHeld(): number {
    let bytes = Math.ceil((this.pages * 4) / PAGE_BYTES) * PAGE_BYTES + (this.#runs?.bytes ?? 0);
    for (let p = 0; p < this.pages; p++) {
      const entry = this.entry(p);
      if (entry <= ONES_PAGE) continue;
      bytes += isSparse(entry) ? sparseSlotBytes(sparseCount(this.arena, entry)) : PAGE_BYTES;
    }
    return bytes;
  }

  /** The 4 KiB of stored page p as dense bytes (a copy for a sparse page); undefined for a sentinel. */
  pageBytes(page: number): Uint8Array | undefined {
    const entry = this.entry(page);
    if (entry <= ONES_PAGE) return undefined;
    if (!isSparse(entry)) return this.arena.u8.subarray(entry, entry + PAGE_BYTES);
    const bytes = new Uint8Array(PAGE_BYTES);
    const u16 = this.arena.u16;
    const slot = (entry - (entry & 15)) >>> 1;
    for (let k = 0, n = u16[slot]!; k < n; k++) {
      const bit = u16[slot + 1 + k]!;
      bytes[bit >>> 3]! |= 1 << (bit & 7);
    }
    return bytes;
  }

  /** The bit numbers of sparse page p, ascending (a copy); undefined when the page is not sparse. */
  sparseBits(page: number): Uint16Array | undefined {
    const entry = this.entry(page);
    if (!isSparse(entry)) return undefined;
    const at = (entry - (entry & 15)) >>> 1;
    return this.arena.u16.slice(at + 1, at + 1 + sparseCount(this.arena, entry));
  }

  /**
   * Stores page p from its set bit numbers (ascending, distinct, within the page): a
   * sparse page when this map keeps them and they are few enough, else a dense page.
   */
  loadBits(page: number, bits: ArrayLike<number>): void {
    const n = bits.length;
    for (let i = 0; i < n; i++) {
      if (!(bits[i]! >= 0 && bits[i]! < PAGE_BLOCKS && (i === 0 || bits[i]! > bits[i - 1]!))) {
        throw invalidArgument(`bit numbers of a page must ascend within 0..${PAGE_BLOCKS - 1}`);
      }
    }
    this.#freeEntry(this.entry(page));
    this.setEntry(page, ZERO_PAGE);
    if (n === 0) return;
    if (this.sparse && n <= SPARSE_LIMIT) {
      const entry = newSparse(this.arena, 0, n);
      this.arena.u16.set(bits, ((entry - (entry & 15)) >>> 1) + 1);
      this.setEntry(page, entry);
      return;
    }
    const stored = this.arena.allocPage();
    const u8 = this.arena.u8;
    for (let i = 0; i < n; i++) u8[stored + (bits[i]! >>> 3)]! |= 1 << (bits[i]! & 7);
    this.setEntry(page, stored);
  }

  /** Stores page p from 4 KiB of dense bytes, in the form this map keeps (a loaded map file). */
  loadPage(page: number, bytes: Uint8Array): void {
    if (bytes.length !== PAGE_BYTES) throw invalidArgument(`a page is ${PAGE_BYTES} bytes, not ${bytes.length}`);
    // A view of the arena itself goes stale if allocating grows (and so replaces) its memory.
    const source = bytes.buffer === this.arena.u8.buffer ? bytes.slice() : bytes;
    this.#freeEntry(this.entry(page));
    this.setEntry(page, ZERO_PAGE);
    const stored = this.arena.allocPage();
    this.arena.u8.set(source, stored);
    this.setEntry(page, stored);
    if (this.sparse) this.#compact(page, stored, SPARSE_LIMIT);
  }

  /** The whole map as flat bytes (ceil(bits / 8) of them), gathered by the kernels. */
  toBytes(): Uint8Array {
    const arena = this.arena;
    // The gather kernel reads dense pages only: it gets a table with the sparse pages as
    // ZERO_PAGE, and their bits are ORed into the flat bytes here.
    const sparse = this.sparsePages() > 0;
    const tableBytes = this.pages * 4;
    const bytes = this.pages * PAGE_BYTES;
    const flat = arena.alloc(bytes);
    const table = sparse ? arena.alloc(tableBytes) : this.table;
    try {
      if (sparse) {
        for (let p = 0; p < this.pages; p++) {
          const entry = this.entry(p);
          arena.u32[(table >>> 2) + p] = isSparse(entry) ? ZERO_PAGE : entry;
        }
      }
      arena.kernels.gatherPages(table, 0, this.pages, flat);
      if (sparse) {
        for (let p = 0; p < this.pages; p++) {
          const entry = this.entry(p);
          if (isSparse(entry)) orSparseInto(arena, entry, flat + p * PAGE_BYTES);
        }
      }
      return arena.u8.slice(flat, flat + Math.ceil(this.bits / 8));
    } finally {
      arena.free(flat, bytes);
      if (sparse) arena.free(table, tableBytes);
    }
  }

  /** Gives the page table and the stored pages back to the arena. */
  free(): void {
    if (this.#table === 0) return;
    this.#runs?.free();
    this.#runs = undefined;
    const table = this.#tableView();
    for (let p = 0; p < this.pages; p++) this.#freeEntry(table[p]!);
    this.arena.free(this.#table, this.#pages * 4);
    this.#table = 0;
  }

  /**
   * The page table as a view of the arena, for loops over every entry (entry() per page
   * costs more than the work): valid until an allocation grows the arena.
   */
  #tableView(): Uint32Array {
    const at = this.table >>> 2;
    return this.arena.u32.subarray(at, at + this.#pages);
  }

  /** Page p changed: what was known of it (its count, its runs) no longer holds. */
  #forgetKept(page: number): void {
    if (this.#counts) this.#counts[page] = 0;
    this.#runs?.forget(page);
  }

  #check(from: number, to: number): void {
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to || to > this.bits) {
      throw outOfRange(`bits [${from}, ${to}) are not within [0, ${this.bits})`);
    }
  }

  #eachPage(from: number, to: number, value: boolean): void {
    for (let lo = from; lo < to;) {
      const page = lo >>> PAGE_SHIFT;
      const pageStart = page * PAGE_BLOCKS;
      const hi = Math.min(to, pageStart + PAGE_BLOCKS);
      if (hi - lo === PAGE_BLOCKS) this.#replacePage(page, value ? ONES_PAGE : ZERO_PAGE);
      else this.#writeBits(page, lo - pageStart, hi - pageStart, value);
      lo = hi;
    }
  }

  #replacePage(page: number, entry: number): void {
    this.#freeEntry(this.entry(page));
    this.setEntry(page, entry);
  }

  /** Gives back what an entry names: a dense page, a sparse slot, or nothing (a sentinel). */
  #freeEntry(entry: number): void {
    if (entry <= ONES_PAGE) return;
    if (isSparse(entry)) freeSparse(this.arena, entry);
    else this.arena.freePage(entry);
  }

  /** An entry of another map's form in this map's: sparse pages become dense in a map that keeps none. */
  #ownForm(entry: number): number {
    return isSparse(entry) && !this.sparse ? densify(this.arena, entry) : entry;
  }

  /**
   * Page p |= `theirs`, where one side is sparse; what `theirs` names is consumed
   * (adopted or freed).
   */
  #mergeSparse(page: number, theirs: number): void {
    const mine = this.entry(page);
    const arena = this.arena;
    if (theirs === ZERO_PAGE) return;
    if (mine === ONES_PAGE || theirs === ONES_PAGE) {
      this.#freeEntry(theirs === ONES_PAGE ? mine : theirs);
      this.setEntry(page, ONES_PAGE);
    } else if (mine === ZERO_PAGE) {
      this.setEntry(page, this.#ownForm(theirs));
    } else if (isSparse(mine) && isSparse(theirs)) {
      const union = unionSparse(arena, mine, theirs);
      if (union !== undefined) this.setEntry(page, union);
      else {
        const dense = densify(arena, mine);
        orSparseInto(arena, theirs, dense);
        this.setEntry(page, dense);
      }
      if (union !== undefined) freeSparse(arena, mine);
      freeSparse(arena, theirs);
    } else if (isSparse(mine)) {
      // Theirs is dense: our bits go into it and it becomes ours.
      orSparseInto(arena, mine, theirs);
      freeSparse(arena, mine);
      this.setEntry(page, theirs);
    } else {
      orSparseInto(arena, theirs, mine);
      freeSparse(arena, theirs);
    }
  }

  /**
   * A dense page of a sparse-keeping map with at most `limit` bits turns sparse (or
   * ZERO_PAGE when empty). Returns whether it did.
   */
  #compact(page: number, stored: number, limit: number): boolean {
    const n = countUpTo(this.arena, stored, limit);
    if (n > limit) return false;
    this.setEntry(page, n === 0 ? ZERO_PAGE : sparseFromDense(this.arena, stored, n));
    this.arena.freePage(stored);
    return true;
  }

  /** Writes bits [lo, hi) of a sparse page; past SPARSE_LIMIT it is stored dense. Returns the dense page then. */
  #writeSparse(page: number, entry: number, lo: number, hi: number, value: boolean): number | undefined {
    const written = writeSparse(this.arena, entry, lo, hi, value);
    if (written !== undefined) {
      this.setEntry(page, written);
      return undefined;
    }
    const dense = densify(this.arena, entry);
    this.setEntry(page, dense);
    return dense;
  }

  /** Writes bits [lo, hi) of one page, storing the page first if it was a sentinel. */
  #writeBits(page: number, lo: number, hi: number, value: boolean): void {
    let entry = this.entry(page);
    if (entry === (value ? ONES_PAGE : ZERO_PAGE)) return;
    if (isSparse(entry)) {
      const dense = this.#writeSparse(page, entry, lo, hi, value);
      if (dense === undefined) return;
      entry = dense;
    } else if (entry === ZERO_PAGE && this.sparse && hi - lo <= SPARSE_LIMIT) {
      this.setEntry(page, newSparse(this.arena, lo, hi));
      return;
    }
    if (entry <= ONES_PAGE) {
      const stored = this.arena.allocPage();
      if (entry === ONES_PAGE) this.arena.u8.fill(0xff, stored, stored + PAGE_BYTES);
      this.setEntry(page, stored);
      entry = stored;
    }
    const u8 = this.arena.u8;
    for (let bit = lo; bit < hi;) {
      const at = entry + (bit >>> 3);
      if ((bit & 7) === 0 && hi - bit >= 8) {
        // Whole bytes at once.
        const end = (hi >>> 3);
        u8.fill(value ? 0xff : 0, at, entry + end);
        bit = end << 3;
        continue;
      }
      if (value) u8[at]! |= 1 << (bit & 7);
      else u8[at]! &= ~(1 << (bit & 7));
      bit++;
    }
    this.#forgetKept(page);
    if (!value && this.sparse) this.#compact(page, entry, SPARSE_LOW);
  }
}

const EMPTY_POOL = new Uint16Array(0);

/**
 * Arena scratch for counting or scanning one page of one map: `list` 8 bytes (the
 * one-table list, then the scan's cursor), `acc` ACC_BYTES (the kernels' accumulator,
 * page aligned), `out` room for PAGE_RUNS_LIMIT + 1 extents (pageRuns only).
 */
export interface PageScratch {
  list: number;
  acc: number;
  out: number;
}

/**
 * The runs of a sparse page from its list of bit numbers; null past PAGE_RUNS_LIMIT of
 * them, or when they average under SPARSE_RUN_BITS bits (scattered bits): the kernels
 * count such lists faster than a union of runs one bit long.
 */
function sparseRuns(arena: Arena, entry: number): number[] | null {
  const u16 = arena.u16;
  const list = (entry - (entry & 15)) >>> 1;
  const n = u16[list]!;
  const runs: number[] = [];
  for (let i = 0; i < n; i++) {
    const bit = u16[list + 1 + i]!;
    if (runs.length > 0 && runs[runs.length - 1] === bit) runs[runs.length - 1] = bit + 1;
    else if (runs.length === 2 * PAGE_RUNS_LIMIT) return null;
    else runs.push(bit, bit + 1);
  }
  return (runs.length / 2) * SPARSE_RUN_BITS <= n ? runs : null;
}

/**
 * Runs a count does better to read than the page (run-count.ts), or null: few of them,
 * or up to PAGE_RUNS_LIMIT over a page mostly set. A union of dense pages' runs is
 * counted through its gaps, which shrink to a few after two maps (clustered deltas, ~94 %
 * set, ~30 runs a page: 256M blocks x K = 16 in 0.43 x the time of reading the pages); of
 * pages half set (runs of 16-1024 blocks at random places) they do not shrink, and each
 * further map costs a merge of branchy steps (~5 ns each): reading the pages is faster.
 */
function countable(runs: number[] | null): number[] | null {
  if (runs === null || runs.length <= 2 * PAGE_RUNS_FEW) return runs;
  let covered = 0;
  for (let i = 0; i < runs.length; i += 2) covered += runs[i + 1]! - runs[i]!;
  return covered >= PAGE_RUNS_DENSE ? runs : null;
}

/** Sparse pages whose runs average fewer bits than this are left to the kernels' list path. */
const SPARSE_RUN_BITS = 8;

/** The runs of dense page p of `map` from the scan kernel, or null past PAGE_RUNS_LIMIT of them. */
function scanRuns(map: PagedBitmap, page: number, scratch: PageScratch): number[] | null {
  const limit = PAGE_RUNS_LIMIT;
  const arena = map.arena;
  const { list, acc, out } = scratch;
  arena.u32[list >>> 2] = map.table;
  const start = page * PAGE_BLOCKS;
  const end = Math.min(map.bits, start + PAGE_BLOCKS);
  const n = arena.kernels.scanPlain(list, 1, start, end, out, limit + 1, list + 4, acc);
  if (n > limit) return null;
  const u32 = arena.u32;
  const runs: number[] = [];
  for (let i = 0, at = out >>> 2; i < n; i++, at += 2) runs.push(u32[at]! - start, u32[at]! + u32[at + 1]! - start);
  return runs;
}

function pagesFor(bits: number): number {
  return Math.max(1, Math.ceil(bits / PAGE_BLOCKS));
}

/** Dense page `mine` &= page `theirs` (arena offsets); whether any bit is left. */
function andPage(u32: Uint32Array, mine: number, theirs: number): boolean {
  let left = 0;
  for (let i = mine >>> 2, j = theirs >>> 2, end = i + PAGE_BYTES / 4; i < end; i++, j++) left |= (u32[i]! &= u32[j]!);
  return left !== 0;
}
