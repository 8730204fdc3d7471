// compareBlocks: which blocks of two regions differ, for "nop-write" (a write of a
// block with the content it already holds is no change, DESIGN.md §2): bytes are
// compared, no hash, so the answer is exact.
//
// In:  a, b        arena offsets of the two regions (any alignment; they may overlap)
//      blockBytes  bytes per block, at least 1 (snapcopy's blocks: 512 B .. 1 MiB)
//      blocks      how many blocks each region holds
//      out         `blocks` bytes: out[i] = 1 when block i differs, else 0
// Out: the number of blocks that differ.
//
// A block stops being read at the first 64-byte step that differs, so a block
// rewritten with new content costs about as little as the first bytes that changed.

/** 1 when n bytes at x and y differ, else 0. */
function blockDiffers(x: usize, y: usize, n: usize): u32 {
  let p: usize = 0;
  // Four 16-byte differences ORed, one test per 64 bytes: the loop is bound by loads.
  let end64 = n & ~(<usize>63);
  while (p < end64) {
    let d = v128.or(
      v128.or(v128.xor(v128.load(x + p), v128.load(y + p)), v128.xor(v128.load(x + p, 16), v128.load(y + p, 16))),
      v128.or(v128.xor(v128.load(x + p, 32), v128.load(y + p, 32)), v128.xor(v128.load(x + p, 48), v128.load(y + p, 48))),
    );
    if (v128.any_true(d)) return 1;
    p += 64;
  }
  let end16 = n & ~(<usize>15);
  while (p < end16) {
    if (v128.any_true(v128.xor(v128.load(x + p), v128.load(y + p)))) return 1;
    p += 16;
  }
  while (p < n) {
    if (load<u8>(x + p) != load<u8>(y + p)) return 1;
    p++;
  }
  return 0;
}

export function compareBlocks(a: usize, b: usize, blockBytes: u32, blocks: u32, out: usize): u32 {
  let differ: u32 = 0;
  let size = <usize>blockBytes;
  for (let i: u32 = 0; i < blocks; i++) {
    let at = <usize>i * size;
    let d = blockDiffers(a + at, b + at, size);
    store<u8>(out + <usize>i, <u8>d);
    differ += d;
  }
  return differ;
}
