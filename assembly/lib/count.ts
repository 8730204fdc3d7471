// Counting the set bits of an accumulated page within a block range.

import { ACC_ONES, ACC_ZERO } from "./layout";

/** Set bits of blocks [lo, hi) of the accumulated page starting at block `pageStart`. */
export function countInPage(state: u32, acc: usize, pageStart: u32, lo: u32, hi: u32): u32 {
  if (state == ACC_ZERO) return 0;
  if (state == ACC_ONES) return hi - lo;
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
