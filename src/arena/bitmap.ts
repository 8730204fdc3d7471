// A bit map as a page table in the arena (FIG. 43): entry p names the page for bits
// [p * PAGE_BLOCKS, (p + 1) * PAGE_BLOCKS), or ZERO_PAGE / ONES_PAGE when that page
// is all zeros / all ones and so is neither stored nor read.

import { invalidArgument, outOfRange, SnapcopyError } from '../errors.js';
import { ACC_BYTES, MAX_BLOCKS, ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, PAGE_SHIFT, ZERO_PAGE } from '../kernels/api.js';
import type { Arena } from './arena.js';

export class PagedBitmap {
  readonly arena: Arena;
  #bits: number;
  #pages: number;
  #table: number;

  private constructor(arena: Arena, bits: number) {
    this.arena = arena;
    this.#bits = bits;
    this.#pages = pagesFor(bits);
    this.#table = arena.alloc(this.#pages * 4);
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
    for (let p = pages; p < this.#pages; p++) {
      const entry = this.entry(p);
      if (entry > ONES_PAGE) this.arena.freePage(entry);
    }
    this.arena.free(this.#table, this.#pages * 4);
    this.#table = table;
    this.#pages = pages;
    this.#bits = bits;
    if (bits > old) this.clearRange(old, tail(bits));
  }

  /** An all-zeros map of `bits` bits: a page table of ZERO_PAGE entries and no pages. */
  static create(arena: Arena, bits: number): PagedBitmap {
    if (!Number.isSafeInteger(bits) || bits < 0 || bits > MAX_BLOCKS) {
      throw invalidArgument(`a bit map holds 0 to ${MAX_BLOCKS} bits, not ${bits}`);
    }
    return new PagedBitmap(arena, bits);
  }

  /** The arena offset of the page table (what the kernels take). */
  get table(): number {
    if (this.#table === 0) throw new SnapcopyError('ERR_FREED', 'this bit map was freed');
    return this.#table;
  }

  /** Entry p of the page table: a page offset, ZERO_PAGE or ONES_PAGE. */
  entry(page: number): number {
    return this.arena.u32[(this.table >>> 2) + page]!;
  }

  setEntry(page: number, entry: number): void {
    this.arena.u32[(this.table >>> 2) + page] = entry;
  }

  get(bit: number): boolean {
    this.#check(bit, bit + 1);
    const entry = this.entry(bit >>> PAGE_SHIFT);
    if (entry === ZERO_PAGE) return false;
    if (entry === ONES_PAGE) return true;
    const inPage = bit & (PAGE_BLOCKS - 1);
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

  /** The number of set bits, counted by the kernels. */
  popcount(): number {
    const arena = this.arena;
    // The one-entry table list, then the kernels' scratch 16-byte aligned after it.
    const bytes = 16 + ACC_BYTES;
    const list = arena.alloc(bytes);
    try {
      arena.u32[list >>> 2] = this.table;
      return arena.kernels.popcountPlain(list, 1, 0, this.bits, list + 16);
    } finally {
      arena.free(list, bytes);
    }
  }

  /** An independent copy (its own page table and pages) in the same arena. */
  clone(): PagedBitmap {
    const copy = new PagedBitmap(this.arena, this.bits);
    for (let p = 0; p < this.pages; p++) {
      const entry = this.entry(p);
      if (entry <= ONES_PAGE) {
        copy.setEntry(p, entry);
        continue;
      }
      const page = this.arena.allocPage();
      this.arena.u8.copyWithin(page, entry, entry + PAGE_BYTES);
      copy.setEntry(p, page);
    }
    return copy;
  }

  /** Makes this map's bits equal to `other`'s (same size), freeing what it held. */
  assign(other: PagedBitmap): void {
    if (other.bits !== this.bits) throw invalidArgument(`cannot assign a map of ${other.bits} bits to one of ${this.bits}`);
    const copy = other.clone();
    for (let p = 0; p < this.pages; p++) {
      const entry = this.entry(p);
      if (entry > ONES_PAGE) this.arena.freePage(entry);
      this.setEntry(p, copy.entry(p));
      copy.setEntry(p, ZERO_PAGE);
    }
    copy.free();
  }

  /** ORs `other` into this map with the kernels' merge; `other` is consumed (freed). */
  mergeFrom(other: PagedBitmap): void {
    if (other.bits !== this.bits || other.arena !== this.arena) throw invalidArgument('maps to merge must match in size and arena');
    const before = new Uint32Array(this.pages);
    for (let p = 0; p < this.pages; p++) before[p] = this.entry(p);
    this.arena.kernels.orMerge(this.table, other.table, this.pages);
    for (let p = 0; p < this.pages; p++) {
      const now = this.entry(p);
      const was = before[p]!;
      const theirs = other.entry(p);
      // Free what no table names any more: a page of ours replaced, a page of theirs not adopted.
      if (was > ONES_PAGE && now !== was) this.arena.freePage(was);
      if (theirs > ONES_PAGE && now !== theirs) this.arena.freePage(theirs);
      other.setEntry(p, ZERO_PAGE);
    }
    other.free();
  }

  /** Stored pages (not sentinels): what the map costs in memory. */
  storedPages(): number {
    let n = 0;
    for (let p = 0; p < this.pages; p++) if (this.entry(p) > ONES_PAGE) n++;
    return n;
  }

  /** The whole map as flat bytes (ceil(bits / 8) of them), gathered by the kernels. */
  toBytes(): Uint8Array {
    const arena = this.arena;
    const bytes = this.pages * PAGE_BYTES;
    const flat = arena.alloc(bytes);
    try {
      arena.kernels.gatherPages(this.table, 0, this.pages, flat);
      return arena.u8.slice(flat, flat + Math.ceil(this.bits / 8));
    } finally {
      arena.free(flat, bytes);
    }
  }

  /** Gives the page table and the stored pages back to the arena. */
  free(): void {
    if (this.#table === 0) return;
    for (let p = 0; p < this.pages; p++) {
      const entry = this.entry(p);
      if (entry > ONES_PAGE) this.arena.freePage(entry);
    }
    this.arena.free(this.#table, this.#pages * 4);
    this.#table = 0;
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
    const old = this.entry(page);
    if (old > ONES_PAGE) this.arena.freePage(old);
    this.setEntry(page, entry);
  }

  /** Writes bits [lo, hi) of one page, storing the page first if it was a sentinel. */
  #writeBits(page: number, lo: number, hi: number, value: boolean): void {
    let entry = this.entry(page);
    if (entry === (value ? ONES_PAGE : ZERO_PAGE)) return;
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
  }
}

function pagesFor(bits: number): number {
  return Math.max(1, Math.ceil(bits / PAGE_BLOCKS));
}
