// The read floor of bench/native/read-floor.c in WebAssembly, over the kernels' own arena
// (bench/lib/read-floor.mjs instantiates it on the same memory): for each page of the
// volume, the stored bit map pages of K maps and the meta bytes of K + 1 meta maps for
// that page (at g = 3 a meta page, eight pages of the volume, at a time), OR'd 64 bytes a step and counted with i64.popcnt on each vector's halves
// (as the kernels count; carry-save adders measured slower for ORs of four pages). No
// masks, no expansion: less than any exact count does, in the simplest fused loop.
// Pointers and lengths in, the count of the OR's bits out; `list` is 64 x 4 bytes of
// scratch for the pages of one page of the volume.

// @ts-ignore: decorator
@inline const PAGE_BYTES: usize = 4096;
// @ts-ignore: decorator
@inline const SLICE_BYTES: usize = 512;

// @ts-ignore: decorator
@inline function lanes2(x: v128): u64 {
  return popcnt(i64x2.extract_lane(x, 0)) + popcnt(i64x2.extract_lane(x, 1));
}

/** Bits of the OR of the n streams listed (u32 offsets) at `list`, `bytes` (a multiple of 64) each. */
function countOr(list: usize, n: u32, bytes: usize): u64 {
  let t: u64 = 0;
  let end = list + (<usize>n << 2);
  for (let off: usize = 0; off < bytes; off += 64) {
    let p = <usize>load<u32>(list) + off;
    let x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48);
    for (let at = list + 4; at < end; at += 4) {
      p = <usize>load<u32>(at) + off;
      x0 = v128.or(x0, v128.load(p)); x1 = v128.or(x1, v128.load(p, 16));
      x2 = v128.or(x2, v128.load(p, 32)); x3 = v128.or(x3, v128.load(p, 48));
    }
    t += lanes2(x0) + lanes2(x1) + lanes2(x2) + lanes2(x3);
  }
  return t;
}

/**
 * The floor over `pages` pages of the volume: `tables` lists the K bit maps' page tables
 * and `metaTables` the metaMaps meta maps' (u32 arena offsets); g is 3 (a page's meta
 * bytes are a 512-byte slice of a meta page) or 0 (a whole meta page, OR'd with the bit
 * map pages). Page-table entries under 16 are sentinels: nothing stored, nothing read.
 */
export function readFloor(tables: usize, count: u32, metaTables: usize, metaMaps: u32, g: u32, pages: u32, list: usize): u64 {
  let t: u64 = 0;
  for (let p: u32 = 0; p < pages; p++) {
    let n: u32 = 0;
    for (let i: u32 = 0; i < count; i++) {
      let entry = load<u32>(<usize>load<u32>(tables + (<usize>i << 2)) + (<usize>p << 2));
      if (entry < 16) continue;
      store<u32>(list + (<usize>n << 2), entry);
      n++;
    }
    if (g == 0) {
      for (let i: u32 = 0; i < metaMaps; i++) {
        let table = <usize>load<u32>(metaTables + (<usize>i << 2));
        store<u32>(list + (<usize>n << 2), load<u32>(table + (<usize>p << 2)));
        n++;
      }
    } else if (metaMaps != 0 && (p & 7) == 0) {
      // The slices of eight pages of the volume lie side by side: whole meta pages, one stream a map.
      let metas = list + (<usize>count << 2);
      for (let i: u32 = 0; i < metaMaps; i++) {
        let table = <usize>load<u32>(metaTables + (<usize>i << 2));
        store<u32>(metas + (<usize>i << 2), load<u32>(table + (<usize>(p >> 3) << 2)));
      }
      t += countOr(metas, metaMaps, <usize>min<u32>(8, pages - p) * SLICE_BYTES);
    }
    if (n != 0) t += countOr(list, n, PAGE_BYTES);
  }
  return t;
}
