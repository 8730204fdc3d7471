// A delta page whose bit map pages are all sparse (u16 bit lists) and short, worked
// from the lists, as assembly/lib/sparse-lists.ts does: the union is marked in the
// accumulator words the lists touch (cleared first, so nothing else is read), bits
// already marked count once, and a scan reads the marked words through a summary
// (one bit per accumulator word) instead of the whole page. With meta maps (FIG. 40)
// X = live & OR ~meta is worked at meta level and B's bits count only outside it.
//
// The lists are (bits, meta) u32 pairs in the page after the accumulator (meta 0:
// all in use), as the wasm kernels keep them; X and the summary use the third page.

import { popcountWords } from './count.js';
import { metaEntry } from './accumulate.js';
import {
  type Heap, ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, SPARSE_TAG, ZERO_PAGE, isSparse, pageEntry, tableAt, u16At,
} from './layout.js';

/** Above this many listed bits the accumulator pass is cheaper (assembly/lib/sparse-lists.ts): for a count, */
export const SPARSE_COUNT_LIMIT = 256;
/** and for a scan. */
export const SPARSE_SCAN_LIMIT = 512;
/** List entries that fit the page after the accumulator. */
const GROUP = PAGE_BYTES >>> 3;

export function listAt(acc: number): number {
  return acc + PAGE_BYTES;
}

/** X (meta-level work) or a scan's summary of marked words: the third scratch page. */
export function scratchAt(acc: number): number {
  return acc + 2 * PAGE_BYTES;
}

/** Bits of the sparse page `entry` names (0 for ZERO_PAGE); -1 for a stored or ONES page. */
function sparseBits(heap: Heap, entry: number): number {
  if (entry === ZERO_PAGE) return 0;
  if (!isSparse(entry)) return -1;
  return u16At(heap.u8, entry - SPARSE_TAG);
}

/**
 * Lists page `page` of the `count` bit maps at `tables` when every entry is ZERO or
 * sparse and they hold at most `limit` bits: returns the number of list entries, or
 * -1 (the page takes accumulatePlain).
 */
export function listPlain(heap: Heap, tables: number, count: number, page: number, acc: number, limit: number): number {
  if (count > GROUP) return -1;
  const u32 = heap.u32;
  const list = listAt(acc) >>> 2;
  let total = 0;
  let n = 0;
  for (let i = 0; i < count; i++) {
    const entry = pageEntry(heap, tableAt(heap, tables, i), page);
    const bits = sparseBits(heap, entry);
    if (bits < 0) return -1;
    total += bits;
    if (total > limit) return -1;
    if (bits === 0) continue;
    u32[list + 2 * n] = entry;
    u32[list + 2 * n + 1] = 0;
    n++;
  }
  return n;
}

/**
 * As listPlain with meta maps: (bits, meta slice) pairs, the meta slice 0 when all
 * of the checkpoint's page is in use (nothing listed then for no bits). -1 when a bit
 * map page is stored or ONES, a meta page is ZERO (the page is all changed), or the
 * lists are too long. The bit map entries are looked at first, so a page of stored
 * pages costs no meta slice test here.
 */
export function listMeta(
  heap: Heap, tables: number, metas: number, count: number, g: number, page: number, acc: number, limit: number,
): number {
  if (count > GROUP) return -1;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const bits = sparseBits(heap, pageEntry(heap, tableAt(heap, tables, i), page));
    if (bits < 0) return -1;
    total += bits;
    if (total > limit) return -1;
  }
  const u32 = heap.u32;
  const list = listAt(acc) >>> 2;
  let n = 0;
  for (let i = 0; i < count; i++) {
    const bits = pageEntry(heap, tableAt(heap, tables, i), page);
    const meta = metaEntry(heap, tableAt(heap, metas, i), page, g);
    if (meta === ZERO_PAGE) return -1;
    if (meta === ONES_PAGE && bits === ZERO_PAGE) continue;
    u32[list + 2 * n] = bits;
    u32[list + 2 * n + 1] = meta === ONES_PAGE ? 0 : meta;
    n++;
  }
  return n;
}

/**
 * X = live & OR over the listed meta slices of ~meta, on the meta bytes as stored
 * (PAGE_BYTES >> g of them), into the third scratch page. `live` 0: all in use.
 * False when no entry has a meta slice (X is all zeros and not written).
 */
function unusedPass(heap: Heap, acc: number, n: number, live: number, g: number): boolean {
  const u32 = heap.u32;
  const list = listAt(acc) >>> 2;
  let any = false;
  for (let i = 0; i < n; i++) any ||= u32[list + 2 * i + 1] !== 0;
  if (!any) return false;
  const x = scratchAt(acc) >>> 2;
  const words = (PAGE_BYTES >>> g) >>> 2;
  for (let w = 0; w < words; w++) {
    let u = 0;
    for (let i = 0; i < n; i++) {
      const meta = u32[list + 2 * i + 1]!;
      if (meta !== 0) u |= ~u32[(meta >>> 2) + w]!;
    }
    u32[x + w] = live === 0 ? u : u & u32[(live >>> 2) + w]!;
  }
  return true;
}

function granuleSet(u8: Uint8Array, meta: number, q: number): boolean {
  return ((u8[meta + (q >>> 3)]! >>> (q & 7)) & 1) !== 0;
}

/**
 * Marks in the accumulator the distinct bits in [first, end) of the listed sparse
 * pages, only in the words they touch; returns how many. With g >= 0 a bit counts
 * only where its granule is in use in `live` (0: all) and not set in `unused` (0: none).
 * `summary` (or -1) receives one bit per accumulator word marked (32 u32).
 */
function markSparse(
  heap: Heap, acc: number, n: number, first: number, end: number, live: number, unused: number, g: number,
  summary: number,
): number {
  const u8 = heap.u8;
  const u32 = heap.u32;
  const list = listAt(acc) >>> 2;
  const words = acc >>> 2;
  for (let i = 0; i < n; i++) {
    const entry = u32[list + 2 * i]!;
    if (entry === ZERO_PAGE) continue;
    const at = entry - SPARSE_TAG + 2;
    for (let b = at, stop = at + 2 * u16At(u8, at - 2); b < stop; b += 2) u32[words + (u16At(u8, b) >>> 5)] = 0;
  }
  if (summary >= 0) u32.fill(0, summary >>> 2, (summary >>> 2) + 32);
  let marked = 0;
  for (let i = 0; i < n; i++) {
    const entry = u32[list + 2 * i]!;
    if (entry === ZERO_PAGE) continue;
    const at = entry - SPARSE_TAG + 2;
    for (let b = at, stop = at + 2 * u16At(u8, at - 2); b < stop; b += 2) {
      const bit = u16At(u8, b);
      if (bit < first || bit >= end) continue;
      if (g >= 0) {
        const q = bit >>> g;
        if (live !== 0 && !granuleSet(u8, live, q)) continue;
        if (unused !== 0 && granuleSet(u8, unused, q)) continue;
      }
      const word = words + (bit >>> 5);
      const m = 1 << (bit & 31);
      const w = u32[word]!;
      if (w & m) continue;
      u32[word] = w | m;
      marked++;
      if (summary >= 0) u32[(summary >>> 2) + (bit >>> 10)]! |= 1 << ((bit >>> 5) & 31);
    }
  }
  return marked;
}

/**
 * The changed blocks in [first, end) of a listed page (n entries; `live` the live
 * meta slice, 0 for all in use; g -1 for plain), from the lists alone; -1 when X
 * is not empty and the range is not the whole page (the accumulator then counts).
 */
export function countFromLists(heap: Heap, acc: number, n: number, live: number, g: number, first: number, end: number): number {
  let unused = 0;
  let ones = 0;
  if (g >= 0 && unusedPass(heap, acc, n, live, g)) {
    if (end - first !== PAGE_BLOCKS) return -1;
    unused = scratchAt(acc);
    ones = popcountWords(heap, unused, (PAGE_BYTES >>> g) >>> 2) * 2 ** g;
  }
  return ones + markSparse(heap, acc, n, first, end, live, unused, g, -1);
}

/**
 * For a scan: marks blocks [first, end) of a listed page with its summary at
 * scratchAt(acc), unless a meta slice is listed (X would have to be expanded: false,
 * and the page takes the accumulator).
 */
export function markFromLists(heap: Heap, acc: number, n: number, live: number, g: number, first: number, end: number): boolean {
  const u32 = heap.u32;
  const list = listAt(acc) >>> 2;
  for (let i = 0; i < n; i++) if (u32[list + 2 * i + 1] !== 0) return false;
  markSparse(heap, acc, n, first, end, live, 0, g, scratchAt(acc));
  return true;
}
