// granularityExpand: a meta bit map with one bit per 2^g blocks (FIG. 45/46) to one
// bit per block; bit k of the output is bit k >> g of the input.
//
// In:  src       dstBytes >> g bytes, 4-byte aligned
//      dst       dstBytes bytes, 16-byte aligned; must not overlap src
//      dstBytes  a multiple of 1024 (so the input is whole 16-byte chunks for g <= 6)
//      g         0..6
// Out: the number of set bits written.

import { expandChunk } from "./lib/expand-chunk";

export function granularityExpand(src: usize, dst: usize, dstBytes: u32, g: u32): u32 {
  for (let chunk: u32 = 0; chunk < dstBytes >> 4; chunk++) {
    v128.store(dst + (<usize>chunk << 4), expandChunk(src, chunk, g));
  }
  let ones: u64 = 0;
  for (let i: usize = 0; i < <usize>(dstBytes >> g); i += 8) ones += popcnt(load<u64>(src + i));
  return <u32>(ones << g);
}
