// The second level over a page table: which entries are not a given sentinel, one bit
// an entry, and over those bits one bit per 32 entries. PagedBitmap keeps two: the
// entries that are stored (not ZERO_PAGE), so a delta over a large volume whose maps
// hold few pages walks a few words instead of 8192 entries a map (256M blocks), and a
// page one map stores alone is counted from that map; and the entries not ONES_PAGE,
// so a meta-aware count finds where every meta map is all in use and counts there
// as a plain one. It is kept exact on every write of the page table.

import { ONES_PAGE, ZERO_PAGE } from '../kernels/api.js';

export class Occupancy {
  /** Bit p: entry p is not the sentinel. */
  readonly words: Uint32Array;
  /** Bit w: words[w] is not 0. */
  readonly groups: Uint32Array;

  /** For a table of `pages` ZERO_PAGE entries (a new map), marking entries other than `sentinel`. */
  constructor(readonly pages: number, readonly sentinel: typeof ZERO_PAGE | typeof ONES_PAGE) {
    this.words = new Uint32Array(Math.ceil(pages / 32));
    this.groups = new Uint32Array(Math.ceil(this.words.length / 32));
    if (sentinel !== ZERO_PAGE) {
      setLow(this.words, pages);
      setLow(this.groups, this.words.length);
    }
  }

  /** Records entry p's new value. */
  note(page: number, entry: number): void {
    const w = page >>> 5;
    const bit = 1 << (page & 31);
    const was = this.words[w]!;
    const now = entry !== this.sentinel ? was | bit : was & ~bit;
    if (now === was) return;
    this.words[w] = now;
    const g = w >>> 5;
    const gbit = 1 << (w & 31);
    this.groups[g] = now !== 0 ? this.groups[g]! | gbit : this.groups[g]! & ~gbit;
  }

  /** Recomputes every bit from the page table (a view of its entries). */
  rebuild(table: Uint32Array): void {
    this.words.fill(0);
    this.groups.fill(0);
    for (let p = 0; p < this.pages; p++) {
      if (table[p] !== this.sentinel) this.words[p >>> 5]! |= 1 << (p & 31);
    }
    for (let w = 0; w < this.words.length; w++) {
      if (this.words[w] !== 0) this.groups[w >>> 5]! |= 1 << (w & 31);
    }
  }
}

/** Sets bits [0, n) of `words`. */
function setLow(words: Uint32Array, n: number): void {
  words.fill(0xffffffff, 0, n >>> 5);
  if ((n & 31) !== 0) words[n >>> 5] = (1 << (n & 31)) - 1;
}

/** What walkStored reports: runs of pages several maps store, and pages one map alone stores. */
export interface StoredVisitor {
  /** Pages [first, end) are each stored by two or more maps (a run, never split inside a word). */
  shared(first: number, end: number): void;
  /** `page` is stored by map `only` alone. */
  single(page: number, only: number): void;
}

/**
 * Reports every page in [first, end) that any of the maps stores, in ascending order,
 * a word of 32 entries at a time: pages only one map stores one by one, the others as
 * runs, so a delta whose maps all store every page costs one report per 32 pages.
 */
export function walkStored(maps: readonly Occupancy[], first: number, end: number, visitor: StoredVisitor): void {
  if (first >= end) return;
  const k = maps.length;
  const firstWord = first >>> 5;
  const lastWord = (end - 1) >>> 5;
  for (let g = firstWord >>> 5, lastGroup = lastWord >>> 5; g <= lastGroup; g++) {
    let any = 0;
    for (let i = 0; i < k; i++) any |= maps[i]!.groups[g]!;
    while (any !== 0) {
      const w = (g << 5) + lowestBit(any);
      any &= any - 1;
      if (w < firstWord || w > lastWord) continue;
      let once = 0;
      let twice = 0;
      for (let i = 0; i < k; i++) {
        const s = maps[i]!.words[w]!;
        twice |= once & s;
        once |= s;
      }
      const mask = wordMask(w, first, end);
      visitWord(maps, w, once & mask, twice & mask, visitor);
    }
  }
}

/** Reports one word's pages in order: `twice` as runs, the rest of `once` one by one. */
function visitWord(maps: readonly Occupancy[], w: number, once: number, twice: number, visitor: StoredVisitor): void {
  const base = w << 5;
  let rest = once;
  while (rest !== 0) {
    const at = lowestBit(rest);
    if (((twice >>> at) & 1) === 0) {
      visitor.single(base + at, onlyMap(maps, w, 1 << at));
      rest &= rest - 1;
      continue;
    }
    // The run of shared pages from `at`: as long as `twice` stays set.
    const run = twice >>> at;
    const length = run === -1 >>> at ? 32 - at : lowestBit(~run);
    visitor.shared(base + at, base + at + length);
    rest = length + at >= 32 ? 0 : rest & ~((1 << (at + length)) - 1);
  }
}

/** The index of the lowest set bit of a nonzero 32-bit value. */
function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** The bits of word w that fall in [first, end). */
function wordMask(w: number, first: number, end: number): number {
  const lo = Math.max(0, first - (w << 5));
  const hi = Math.min(32, end - (w << 5));
  if (hi <= lo) return 0;
  const upper = hi === 32 ? -1 : (1 << hi) - 1;
  return upper & ~((1 << lo) - 1);
}

function onlyMap(maps: readonly Occupancy[], w: number, bit: number): number {
  for (let i = 0; i < maps.length; i++) if ((maps[i]!.words[w]! & bit) !== 0) return i;
  return -1;
}

/**
 * The pages in [first, end) that any of the maps stores, as ranges of pages with
 * neighbouring ranges joined: [from0, to0, from1, to1, ...], ascending.
 */
export function storedRanges(maps: readonly Occupancy[], first: number, end: number): number[] {
  const ranges: number[] = [];
  const add = (from: number, to: number) => {
    if (ranges.length > 0 && ranges[ranges.length - 1] === from) ranges[ranges.length - 1] = to;
    else ranges.push(from, to);
  };
  walkStored(maps, first, end, { shared: add, single: (page) => add(page, page + 1) });
  return ranges;
}
