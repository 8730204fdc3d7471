// Meta bit map granularity (FIG. 45/46): one bit stands for 2^g blocks, g = 0..6.
// expandChunk returns 16 bytes (128 blocks) of the one-bit-per-block expansion of
// a granular map: output byte `16 * chunk` onward, read from the map at `src`.

// Bit k of each byte selects lane bits for the byte-level expansions (g >= 3).
const G3_BITS: v128 = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
const G3_LANES: v128 = i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
const G4_BITS: v128 = i8x16(1, 1, 2, 2, 4, 4, 8, 8, 16, 16, 32, 32, 64, 64, -128, -128);
const G5_BITS: v128 = i8x16(1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8);
const G6_BITS: v128 = i8x16(1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2);

/** Spreads each of the low 32 bits of x over 2 bits (bit i -> bits 2i, 2i+1). */
// @ts-ignore: decorator
@inline function spread2(x: u64): u64 {
  x = (x | (x << 16)) & 0x0000FFFF0000FFFF;
  x = (x | (x << 8)) & 0x00FF00FF00FF00FF;
  x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0F;
  x = (x | (x << 2)) & 0x3333333333333333;
  x = (x | (x << 1)) & 0x5555555555555555;
  return x | (x << 1);
}

/** Spreads each of the low 16 bits of x over 4 bits (bit i -> bits 4i..4i+3). */
// @ts-ignore: decorator
@inline function spread4(x: u64): u64 {
  x = (x | (x << 24)) & 0x000000FF000000FF;
  x = (x | (x << 12)) & 0x000F000F000F000F;
  x = (x | (x << 6)) & 0x0303030303030303;
  x = (x | (x << 3)) & 0x1111111111111111;
  return x * 15;
}

/** Byte-level expansion: splat one source byte, shift the wanted bits down, test them. */
// @ts-ignore: decorator
@inline function testBits(byte: u8, shift: i32, bits: v128): v128 {
  let v = i8x16.shr_u(i8x16.splat(<i8>byte), shift);
  return i8x16.ne(v128.and(v, bits), i8x16.splat(0));
}

/** 16 bytes of the expansion of the granular map at `src`, from output byte 16 * chunk. */
// @ts-ignore: decorator
@inline export function expandChunk(src: usize, chunk: u32, g: u32): v128 {
  switch (g) {
    case 0: return v128.load(src + (<usize>chunk << 4));
    case 1: {
      let x = load<u64>(src + (<usize>chunk << 3));
      return i64x2.replace_lane(i64x2.splat(spread2(x & 0xFFFFFFFF)), 1, spread2(x >> 32));
    }
    case 2: {
      let x = <u64>load<u32>(src + (<usize>chunk << 2));
      return i64x2.replace_lane(i64x2.splat(spread4(x & 0xFFFF)), 1, spread4(x >> 16));
    }
    case 3: {
      let pair = i16x8.splat(load<u16>(src + (<usize>chunk << 1)));
      return i8x16.ne(v128.and(i8x16.swizzle(pair, G3_LANES), G3_BITS), i8x16.splat(0));
    }
    case 4: return testBits(load<u8>(src + chunk), 0, G4_BITS);
    case 5: return testBits(load<u8>(src + (chunk >> 1)), (chunk & 1) << 2, G5_BITS);
    default: return testBits(load<u8>(src + (chunk >> 2)), (chunk & 3) << 1, G6_BITS);
  }
}

/** dst[0, dstBytes) = the expansion of the granular map at src; the switch is outside the loop. */
export function expandInto(src: usize, dst: usize, dstBytes: u32, g: u32): void {
  let chunks = dstBytes >> 4;
  switch (g) {
    case 0: memory.copy(dst, src, dstBytes); break;
    case 1: for (let c: u32 = 0; c < chunks; c++) v128.store(dst + (<usize>c << 4), expandChunk(src, c, 1)); break;
    case 2: for (let c: u32 = 0; c < chunks; c++) v128.store(dst + (<usize>c << 4), expandChunk(src, c, 2)); break;
    case 3: for (let c: u32 = 0; c < chunks; c++) v128.store(dst + (<usize>c << 4), expandChunk(src, c, 3)); break;
    case 4: for (let c: u32 = 0; c < chunks; c++) v128.store(dst + (<usize>c << 4), expandChunk(src, c, 4)); break;
    case 5: for (let c: u32 = 0; c < chunks; c++) v128.store(dst + (<usize>c << 4), expandChunk(src, c, 5)); break;
    default: for (let c: u32 = 0; c < chunks; c++) v128.store(dst + (<usize>c << 4), expandChunk(src, c, 6)); break;
  }
}
