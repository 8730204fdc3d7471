// The arena layout that every kernel shares with src/kernels/api.ts.
//
// A bit map covers blocks 0..N-1 with one bit per block: bit b is bit (b & 7) of
// byte (b >> 3), so little-endian words read it in order. It is stored as a page
// table (FIG. 43): an array of u32 entries, entry p for blocks [p << 15, (p+1) << 15).
// An entry is the arena offset of a 4 KiB page, or one of two sentinels that stand
// for a page of all zeros or all ones; sentinel pages are never stored nor read.
// Offsets below 64 KiB are never pages, so the sentinels cannot collide with one.

// @ts-ignore: decorator
@inline export const PAGE_BYTES: u32 = 4096;
// @ts-ignore: decorator
@inline export const PAGE_SHIFT: u32 = 15;
// @ts-ignore: decorator
@inline export const PAGE_BLOCKS: u32 = 32768;
// @ts-ignore: decorator
@inline export const ZERO_PAGE: u32 = 0;
// @ts-ignore: decorator
@inline export const ONES_PAGE: u32 = 1;

// A bit map page with few bits set can instead be a sparse page (as Roaring's array
// containers): entry = offset | SPARSE_TAG, the offset 16-byte aligned; at it a u16
// count n (at most SPARSE_MAX) and n u16 bit numbers within the page. Page offsets
// are 4 KiB aligned and sentinels below 16, so the low four bits tell them apart.
// Only the delta scan and count kernels read sparse pages, and only in bit maps
// (meta maps and the other kernels take plain pages).
// @ts-ignore: decorator
@inline export const SPARSE_TAG: u32 = 2;
// @ts-ignore: decorator
@inline export const SPARSE_MAX: u32 = 2047;

/** True when a page-table entry names a sparse page. */
// @ts-ignore: decorator
@inline export function isSparse(entry: u32): bool {
  return (entry & 15) == SPARSE_TAG;
}

/** What an accumulated page holds: nothing, everything, or a mix (in the accumulator). */
// @ts-ignore: decorator
@inline export const ACC_ZERO: u32 = 0;
// @ts-ignore: decorator
@inline export const ACC_ONES: u32 = 1;
// @ts-ignore: decorator
@inline export const ACC_MIXED: u32 = 2;

// The scratch a scan or count takes (ACC_BYTES in src/kernels/api.ts): three pages
// (accumulator, list, meta-level work), then the extent emitter's state (lib/extents.ts,
// 32 bytes), then the bit numbers of a page worked from sparse lists (lib/sparse-lists.ts).
// @ts-ignore: decorator
@inline export const EXTENTS_AT: usize = 3 * PAGE_BYTES;
// @ts-ignore: decorator
@inline export const FLAT_AT: usize = EXTENTS_AT + 32;

/** Entry `page` of the page table at `table`. */
// @ts-ignore: decorator
@inline export function pageEntry(table: usize, page: u32): u32 {
  return load<u32>(table + (<usize>page << 2));
}

/** Page table `i` of a list of page-table offsets at `tables`. */
// @ts-ignore: decorator
@inline export function tableAt(tables: usize, i: u32): usize {
  return <usize>load<u32>(tables + (<usize>i << 2));
}
