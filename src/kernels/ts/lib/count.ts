// Counting the set bits of an accumulated page within a block range.

import { ACC_ONES, ACC_ZERO, type Heap } from './layout.js';

/** Set bits of a 32-bit word. */
export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/** Set bits of a run of 32-bit words. */
export function popcountWords(heap: Heap, at: number, words: number): number {
  let total = 0;
  const u32 = heap.u32;
  for (let i = at >>> 2, end = i + words; i < end; i++) total += popcount32(u32[i]!);
  return total;
}

/** Set bits of blocks [lo, hi) of the accumulated page starting at block `pageStart`. */
export function countInPage(
  heap: Heap, state: number, acc: number, pageStart: number, lo: number, hi: number,
): number {
  if (state === ACC_ZERO) return 0;
  if (state === ACC_ONES) return hi - lo;
  const u32 = heap.u32;
  const first = lo - pageStart;
  const end = hi - pageStart;
  const base = acc >>> 2;
  const lastWord = (end - 1) >>> 5;
  let total = 0;
  for (let word = first >>> 5; word <= lastWord; word++) {
    let w = u32[base + word]! | 0;
    const bit0 = word << 5;
    if (bit0 < first) w &= -1 << (first - bit0);
    if (bit0 + 32 > end) w &= (1 << (end - bit0)) - 1;
    total += popcount32(w);
  }
  return total;
}
