// Three ways to count the set bits of `bytes` bytes at p (a multiple of 128) in
// WebAssembly, for bench/lib/popcount-loops.mjs: the bound a count kernel meets when
// it must add up every bit it reads. Pointer and length in, count out; nothing else.

// @ts-ignore: decorator
@inline function lanes2(x: v128): u64 {
  return popcnt(i64x2.extract_lane(x, 0)) + popcnt(i64x2.extract_lane(x, 1));
}

/** As the kernels count an OR built in vectors: i64.popcnt on each vector's two lanes. */
export function lanes(p: usize, bytes: usize): u64 {
  let t: u64 = 0;
  for (let off: usize = 0; off < bytes; off += 64) {
    t += lanes2(v128.load(p + off)) + lanes2(v128.load(p + off, 16))
      + lanes2(v128.load(p + off, 32)) + lanes2(v128.load(p + off, 48));
  }
  return t;
}

/** i64.popcnt on 8-byte loads, four running sums (countPage's loop). */
export function words(p: usize, bytes: usize): u64 {
  let t0: u64 = 0, t1: u64 = 0, t2: u64 = 0, t3: u64 = 0;
  for (let i: usize = 0; i < bytes; i += 32) {
    t0 += popcnt(load<u64>(p + i)); t1 += popcnt(load<u64>(p + i, 8));
    t2 += popcnt(load<u64>(p + i, 16)); t3 += popcnt(load<u64>(p + i, 24));
  }
  return t0 + t1 + t2 + t3;
}

// @ts-ignore: decorator
@inline function carry(a: v128, b: v128, c: v128): v128 {
  return v128.or(v128.and(a, b), v128.and(v128.xor(a, b), c));
}

/**
 * Harley-Seal: carry-save adders fold eight vectors into ones, twos, fours and one
 * vector of eights, so one vector in eight is counted (Mula, Kurz and Lemire, 2018).
 */
export function carrySave(p: usize, bytes: usize): u64 {
  let ones = i8x16.splat(0), twos = ones, fours = ones;
  let t: u64 = 0;
  for (let off: usize = 0; off < bytes; off += 128) {
    let a = v128.load(p + off), b = v128.load(p + off, 16);
    let twosA = carry(a, b, ones); ones = v128.xor(v128.xor(a, b), ones);
    a = v128.load(p + off, 32); b = v128.load(p + off, 48);
    let twosB = carry(a, b, ones); ones = v128.xor(v128.xor(a, b), ones);
    let foursA = carry(twosA, twosB, twos); twos = v128.xor(v128.xor(twosA, twosB), twos);
    a = v128.load(p + off, 64); b = v128.load(p + off, 80);
    twosA = carry(a, b, ones); ones = v128.xor(v128.xor(a, b), ones);
    a = v128.load(p + off, 96); b = v128.load(p + off, 112);
    twosB = carry(a, b, ones); ones = v128.xor(v128.xor(a, b), ones);
    let foursB = carry(twosA, twosB, twos); twos = v128.xor(v128.xor(twosA, twosB), twos);
    let eights = carry(foursA, foursB, fours); fours = v128.xor(v128.xor(foursA, foursB), fours);
    t += lanes2(eights);
  }
  return (t << 3) + (lanes2(fours) << 2) + (lanes2(twos) << 1) + lanes2(ones);
}
