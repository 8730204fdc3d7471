// Counting the set bits of an accumulated page within a block range.

import { ACC_ONES, ACC_ZERO, PAGE_BLOCKS, PAGE_BYTES } from "./layout";

/** Set bits of a whole page: byte counts summed in u16 lanes (at most 256 * 16 each). */
function countPage(acc: usize): u32 {
  let sums = i16x8.splat(0);
  for (let i: usize = 0; i < PAGE_BYTES; i += 32) {
    let a = i16x8.extadd_pairwise_i8x16_u(i8x16.popcnt(v128.load(acc + i)));
    let b = i16x8.extadd_pairwise_i8x16_u(i8x16.popcnt(v128.load(acc + i, 16)));
    sums = i16x8.add(sums, i16x8.add(a, b));
  }
  let wide = i32x4.extadd_pairwise_i16x8_u(sums);
  return i32x4.extract_lane(wide, 0) + i32x4.extract_lane(wide, 1)
    + i32x4.extract_lane(wide, 2) + i32x4.extract_lane(wide, 3);
}

/** Set bits of blocks [lo, hi) of the accumulated page starting at block `pageStart`. */
export function countInPage(state: u32, acc: usize, pageStart: u32, lo: u32, hi: u32): u32 {
  if (state == ACC_ZERO) return 0;
  if (state == ACC_ONES) return hi - lo;
  if (hi - lo == PAGE_BLOCKS) return countPage(acc);
  let first = lo - pageStart;
  let end = hi - pageStart;
  let lastWord = (end - 1) >> 6;
  let total: u64 = 0;
  // i64.popcnt is one instruction on x86-64 and arm64: no SIMD needed here.
  for (let word = first >> 6; word <= lastWord; word++) {
    let w = load<u64>(acc + (<usize>word << 3));
    let bit0 = word << 6;
    if (bit0 < first) w &= <u64>-1 << (first - bit0);
    if (bit0 + 64 > end) w &= (<u64>1 << (end - bit0)) - 1;
    total += popcnt(w);
  }
  return <u32>total;
}
