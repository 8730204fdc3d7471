// The arena layout, as assembly/lib/layout.ts has it, on views of one ArrayBuffer.

export { ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, PAGE_SHIFT, SPARSE_TAG, ZERO_PAGE } from '../../api.js';
import { SPARSE_TAG } from '../../api.js';

/** True when a page-table entry names a sparse page (assembly/lib/layout.ts). */
export function isSparse(entry: number): boolean {
  return (entry & 15) === SPARSE_TAG;
}

/** What an accumulated page holds: nothing, everything, or a mix (in the accumulator). */
export const ACC_ZERO = 0;
export const ACC_ONES = 1;
export const ACC_MIXED = 2;

/** u16 at byte offset `at`, little-endian (as the kernels store sparse lists and kept runs). */
export function u16At(u8: Uint8Array, at: number): number {
  return u8[at]! | (u8[at + 1]! << 8);
}

/** Length-tracking views of the arena (its buffer is resizable, so they never go stale). */
export interface Heap {
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
}

/** Entry `page` of the page table at `table`. */
export function pageEntry(heap: Heap, table: number, page: number): number {
  return heap.u32[(table >>> 2) + page]!;
}

/** Page table `i` of a list of page-table offsets at `tables`. */
export function tableAt(heap: Heap, tables: number, i: number): number {
  return heap.u32[(tables >>> 2) + i]!;
}
