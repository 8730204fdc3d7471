// granularityShrink: a one-bit-per-block map to one bit per 2^g blocks (FIG. 46):
// bit k of the output is set when any of input bits [k << g, (k + 1) << g) is.
//
// In:  src       dstBytes << g bytes, 16-byte aligned
//      dst       dstBytes bytes, 4-byte aligned; must not overlap src
//      dstBytes  a multiple of 16
//      g         0..6
// Out: the number of set bits written.

/** Any-of-2 bit pairs of a 64-bit word, packed into 32 bits. */
// @ts-ignore: decorator
@inline function shrinkPairs(x: u64): u64 {
  let y = (x | (x >> 1)) & 0x5555555555555555;
  y = (y | (y >> 1)) & 0x3333333333333333;
  y = (y | (y >> 2)) & 0x0F0F0F0F0F0F0F0F;
  y = (y | (y >> 4)) & 0x00FF00FF00FF00FF;
  y = (y | (y >> 8)) & 0x0000FFFF0000FFFF;
  return (y | (y >> 16)) & 0xFFFFFFFF;
}

/** Any-of-4 bit nibbles of a 64-bit word, packed into 16 bits. */
// @ts-ignore: decorator
@inline function shrinkNibbles(x: u64): u64 {
  let y = x | (x >> 1);
  y = (y | (y >> 2)) & 0x1111111111111111;
  y = (y | (y >> 3)) & 0x0303030303030303;
  y = (y | (y >> 6)) & 0x000F000F000F000F;
  y = (y | (y >> 12)) & 0x000000FF000000FF;
  return (y | (y >> 24)) & 0xFFFF;
}

/** One bit per non-zero byte (g=3), u16 (4), u32 (5) or u64 (6) lane of 16 bytes. */
// @ts-ignore: decorator
@inline function laneBits(v: v128, g: u32): u32 {
  let zero = i8x16.splat(0);
  if (g == 3) return i8x16.bitmask(i8x16.ne(v, zero));
  if (g == 4) return i16x8.bitmask(i16x8.ne(v, zero));
  if (g == 5) return i32x4.bitmask(i32x4.ne(v, zero));
  return i64x2.bitmask(i64x2.ne(v, zero));
}

export function granularityShrink(src: usize, dst: usize, dstBytes: u32, g: u32): u32 {
  let ones: u32 = 0;
  if (g == 0) {
    memory.copy(dst, src, dstBytes);
    for (let i: usize = 0; i < dstBytes; i += 8) ones += <u32>popcnt(load<u64>(dst + i));
    return ones;
  }
  // Each source step (8 bytes for g <= 2, 16 bytes for g >= 3) gives `outBits` output
  // bits, packed into a u64 that is stored when full.
  let outBits: u32 = g <= 2 ? 64 >> g : 16 >> (g - 3);
  let stride: usize = g <= 2 ? 8 : 16;
  let bits: u64 = 0;
  let filled: u32 = 0;
  let at = dst;
  for (let i: usize = 0; i < <usize>dstBytes << g; i += stride) {
    let piece: u64 = g == 1 ? shrinkPairs(load<u64>(src + i))
      : g == 2 ? shrinkNibbles(load<u64>(src + i))
      : <u64>laneBits(v128.load(src + i), g);
    bits |= piece << filled;
    filled += outBits;
    if (filled == 64) {
      store<u64>(at, bits);
      ones += <u32>popcnt(bits);
      at += 8;
      bits = 0;
      filled = 0;
    }
  }
  return ones;
}
