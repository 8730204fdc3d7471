// checksum: one step of the snapcopy checksum (src/storage/checksum.ts defines the
// whole function: it seeds the state with the length, runs this over the bytes, and
// for 32-bit fields folds the result).
//
// The function is a Fletcher checksum over little-endian 32-bit words with two 32-bit
// sums: for each word w, a += w, then b += a (all mod 2^32); the last word is padded
// with zero bytes. Why this one and not CRC-32, Fletcher-4 or XXH3:
//  - It is at least as strong as CRC-32 for the errors that matter in a record or a
//    frame: any error confined to two adjacent words (so any error within 5 consecutive
//    bytes: every single-byte error, every burst of up to 33 bits in either bit order)
//    changes (a, b). Proof: with changes d1, d2 (|d| < 2^32) to words i, i+1, a changes
//    by s = d1 + d2 and b by (n-i-1)*s + d1; s = 0 mod 2^32 leaves b changed by d1 mod
//    2^32, which is 0 only when d1 = 0 and then d2 = 0. The 32-bit fold a + 2b weights
//    every word by an odd number, so it still catches any error within 4 consecutive
//    bytes (all single-byte errors, all bursts up to 32 bits in CRC-32's bit order).
//  - It costs two vector adds per 16 bytes, so with the copy into this memory it still
//    runs several times faster than zlib's crc32; Fletcher-4 with 64-bit sums (ZFS)
//    needs about 11 vector operations per 16 bytes and XXH3 a multiply per 8 bytes.
//  - Known weakness: two flips of bit 31 in words an even distance apart cancel (sums
//    are mod 2^32, not mod 2^32 - 1, whose 0 == 0xffffffff blind spot is a 32-bit burst).
//
// In:  ptr    arena offset of the bytes (any alignment)
//      len    their length; a step that is not the last must be a multiple of 4
//      state  (b << 32) | a before these bytes
// Out: (b << 32) | a after them.
//
// Four lanes each sum every fourth word: lane l gets a_l = sum of its words and
// b_l = sum of (m - k) * its k-th word over m vectors; the words then enter b with
// weights 4(m - k) - l, hence b += 4m*a + sum(4 b_l - l a_l).

// @ts-ignore: decorator
@inline const UNROLL: usize = 64;

export function checksum(ptr: usize, len: u32, state: u64): u64 {
  let a = <u32>state;
  let b = <u32>(state >> 32);
  let vectors = len >> 4;
  let va = i32x4.splat(0);
  let vb = i32x4.splat(0);
  let p = ptr;
  let end64 = ptr + (<usize>(len & ~63));
  // Two vector adds per 16 bytes, unrolled so the loop's own work is small beside them.
  while (p < end64) {
    va = i32x4.add(va, v128.load(p));
    vb = i32x4.add(vb, va);
    va = i32x4.add(va, v128.load(p, 16));
    vb = i32x4.add(vb, va);
    va = i32x4.add(va, v128.load(p, 32));
    vb = i32x4.add(vb, va);
    va = i32x4.add(va, v128.load(p, 48));
    vb = i32x4.add(vb, va);
    p += UNROLL;
  }
  let end16 = ptr + (<usize>(len & ~15));
  while (p < end16) {
    va = i32x4.add(va, v128.load(p));
    vb = i32x4.add(vb, va);
    p += 16;
  }
  let laneA = i32x4.extract_lane(va, 0) + i32x4.extract_lane(va, 1)
    + i32x4.extract_lane(va, 2) + i32x4.extract_lane(va, 3);
  let laneB = (i32x4.extract_lane(vb, 0) + i32x4.extract_lane(vb, 1)
    + i32x4.extract_lane(vb, 2) + i32x4.extract_lane(vb, 3)) * 4
    - i32x4.extract_lane(va, 1) - 2 * i32x4.extract_lane(va, 2) - 3 * i32x4.extract_lane(va, 3);
  b += (vectors << 2) * a + <u32>laneB;
  a += <u32>laneA;
  let end4 = ptr + (<usize>(len & ~3));
  while (p < end4) {
    a += load<u32>(p);
    b += a;
    p += 4;
  }
  let rest = len & 3;
  if (rest != 0) {
    let w: u32 = 0;
    for (let i: u32 = 0; i < rest; i++) w |= (<u32>load<u8>(p + i)) << (i << 3);
    a += w;
    b += a;
  }
  return (<u64>b << 32) | <u64>a;
}
