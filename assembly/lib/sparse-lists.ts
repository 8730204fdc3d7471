// A delta page whose listed bit map pages are all sparse (u16 bit lists) and short,
// worked from the lists: no 4 KiB accumulator to clear, OR and popcount for a page
// that holds a dozen bits (scattered 0.01 % is ~3 bits per page per map).
//
// The union of the lists is marked in the accumulator, one bit per block, but only
// in the 64-bit words the lists touch: a first pass clears exactly those words, a
// second sets the bits and counts the ones that were not set yet (a bit listed twice,
// or by two maps, counts once). So the accumulator may hold anything before, nothing
// reads the words left untouched, and the lists need not be sorted. For a scan a
// summary (one bit per accumulator word, 64 bytes) says which words to read, in
// order, so extents come out of the touched words alone (lib/extents.ts runsInWords).
//
// With meta maps (FIG. 40) the bits of B count only where the granule is in use in M
// and not already in X = live & OR ~meta (lib/accumulate.ts unusedPass), whose blocks
// a count adds at meta level and a scan marks whole (markUnused):
// changed = (B & expand(live)) | expand(X).

import { PAGE_BYTES, SPARSE_TAG, isSparse } from "./layout";

/**
 * Above this many listed bits the accumulator pass is cheaper for a count: it costs
 * ~0.5 us a page plus ~1 ns a bit, the lists ~2 ns a bit (bench/sparse-threshold.mjs,
 * K = 4: about even at 320 bits a page).
 */
// @ts-ignore: decorator
@inline export const SPARSE_COUNT_LIMIT: u32 = 256;
/**
 * A scan pays for its extents both ways, and the accumulator path a pass over the
 * whole page besides: at 324 bits a page 5.8 ms from the lists against 9.5 ms, about
 * even at 508, and past that the accumulator's word-at-a-time extents win.
 */
// @ts-ignore: decorator
@inline export const SPARSE_SCAN_LIMIT: u32 = 512;

/** Bytes of the summary: one bit per 64-bit word of a page. */
// @ts-ignore: decorator
@inline export const SUMMARY_BYTES: u32 = PAGE_BYTES >> 6;

/** Whether granule q's bit is set in the meta bytes at `meta`. */
// @ts-ignore: decorator
@inline function granuleSet(meta: usize, q: u32): bool {
  return ((<u32>load<u8>(meta + <usize>(q >> 3)) >> (q & 7)) & 1) != 0;
}

/**
 * Marks in `acc` the distinct bits in [first, end) of the `bits` bit numbers at
 * `flat` (from flattenLists) and returns how many there are. With g >= 0 a bit counts only when its granule is in
 * use in `live` (0: all in use) and not set in `unused` (0: none). `summary` (or 0)
 * receives one bit per accumulator word that holds a marked bit.
 */
export function markSparse(
  acc: usize, flat: usize, bits: u32, first: u32, end: u32, live: usize, unused: usize, g: i32, summary: usize,
): u32 {
  let flatEnd = flat + (<usize>bits << 1);
  for (let at = flat; at < flatEnd; at += 2) store<u64>(acc + ((<usize>load<u16>(at) >> 6) << 3), 0);
  if (summary != 0) {
    v128.store(summary, i8x16.splat(0));
    v128.store(summary, i8x16.splat(0), 16);
    v128.store(summary, i8x16.splat(0), 32);
    v128.store(summary, i8x16.splat(0), 48);
  }
  let span = end - first;
  let marked: u32 = 0;
  for (let at = flat; at < flatEnd; at += 2) {
    let bit = <u32>load<u16>(at);
    if (bit - first >= span) continue;
    if (g >= 0) {
      let q = bit >> <u32>g;
      if (live != 0 && !granuleSet(live, q)) continue;
      if (unused != 0 && granuleSet(unused, q)) continue;
    }
    let word = acc + (<usize>(bit >> 6) << 3);
    let w = load<u64>(word);
    let m = <u64>1 << <u64>(bit & 63);
    if ((w & m) != 0) continue;
    store<u64>(word, w | m);
    marked++;
    if (summary != 0) {
      let s = summary + (<usize>(bit >> 12) << 3);
      store<u64>(s, load<u64>(s) | (<u64>1 << <u64>((bit >> 6) & 63)));
    }
  }
  return marked;
}

/**
 * Copies the bit numbers of the sparse pages the n (bits, meta) entries at `list` name
 * into one u16 array at `flat`, 8 a step, and returns how many there are, when every
 * bit map entry is sparse or none and they add up to at most `limit`; else -1. Then
 * markSparse runs one loop over all the bits, not one per page: a loop per list of a
 * few bits mispredicted its exit about once a list, which cost more than the marking.
 * Writes up to 14 bytes past the last bit number (`flat` holds 2 * limit + 16 bytes)
 * and reads up to 14 past each list, at most 2 past its slot (a slot is a multiple of
 * 64 bytes that holds 2 + 2n; the arena keeps ARENA_SLACK bytes past its top).
 */
export function flattenLists(list: usize, n: u32, flat: usize, limit: u32): i32 {
  let listEnd = list + (<usize>n << 3);
  let total: u32 = 0;
  for (let e = list; e < listEnd; e += 8) {
    let entry = load<u32>(e);
    if (entry == 0) continue;
    if (!isSparse(entry)) return -1;
    let from = <usize>(entry - SPARSE_TAG);
    let count = <u32>load<u16>(from);
    if (total + count > limit) return -1;
    let to = flat + (<usize>total << 1);
    let bytes = <usize>count << 1;
    let i: usize = 0;
    do {
      v128.store(to + i, v128.load(from + 2 + i));
      i += 16;
    } while (i < bytes);
    total += count;
  }
  return <i32>total;
}

/**
 * For a scan from the lists with meta slices listed: marks in `acc` every block of the
 * granules X (`unused`: one bit per granule of 2^g blocks, PAGE_BYTES >> g bytes; the
 * blocks in use in M that some checkpoint had out of use, all changed) and names their
 * words in `summary`, after markSparse has marked the lists' bits (which skipped X's
 * granules). A word markSparse did not name holds anything and is overwritten; one it
 * named keeps its bits. Call with 1 <= g <= 6.
 */
export function markUnused(acc: usize, unused: usize, g: u32, summary: usize): void {
  let bytes = <usize>(PAGE_BYTES >> g);
  // A granule's blocks as a mask at bit 0 of its word (g = 6: the whole word).
  let granule = <u64>-1 >> (64 - (<u64>1 << g));
  for (let i: usize = 0; i < bytes; i += 8) {
    let x = load<u64>(unused + i);
    while (x != 0) {
      let block = (<u32>(i << 3) + <u32>ctz(x)) << g;
      x &= x - 1;
      let word = acc + (<usize>(block >> 6) << 3);
      let s = summary + (<usize>(block >> 12) << 3);
      let named = <u64>1 << <u64>((block >> 6) & 63);
      let names = load<u64>(s);
      let kept = select<u64>(load<u64>(word), 0, (names & named) != 0);
      store<u64>(word, kept | (granule << <u64>(block & 63)));
      store<u64>(s, names | named);
    }
  }
}
