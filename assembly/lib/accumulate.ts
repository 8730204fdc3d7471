// Building one page of the delta (FIG. 34/35, 39/40): changed = live & OR over I of
// (bits_I | ~meta_I), 64 bytes (512 blocks) at a time with the OR kept in registers.
//
// A page goes in two steps. gather* walks the checkpoints' page-table entries once:
// sentinels decide without reading anything (a ONES bit map page or a ZERO meta page
// makes the whole OR ones; ZERO bit map pages with all-ones meta drop out), and what
// has to be read goes to a list behind the accumulator page: (bits, meta) offsets,
// 0 for "none" / "all in use". Then resolve* computes the meta half at meta level
// (X = live & OR of ~meta, on the meta bytes as stored: all maps share g) and runs
// over the page once, chunks outside and bit map pages inside, expanding only live
// and X: the accumulator is written at most once (for extents) or not at all (for
// counts), instead of a read-modify-write pass and an expansion per checkpoint.
// A list holds GROUP entries; more checkpoints than that OR a group into the
// accumulator first (`partial`), which only very long checkpoint ranges pay for.
// The list's length and that flag travel in the LISTED state itself, not in globals.
//
// Counts take shorter routes (the page is never written): at g = 0 one pass ORs the
// bit map pages and the complemented AND of the meta pages and masks with live; at
// g > 0 the count splits as popcount(X) << g + popcount(B & expand(Y)), Y = live & ~X,
// so a step expands one slice, not two (g = 3 in one pass, fusing the meta half in).
// popcountMeta lists the checkpoints' meta slices as stored (gatherMetaStored), not
// tested for all ones or zeros first: that test was a miss per map per page, each
// waited for.
//
// A page whose listed bit map pages are all sparse and short skips the accumulator
// pass altogether: lib/sparse-lists.ts counts or marks their bits from the lists.

import { countBytes, countOrPages, countPage, popcnt2, popcnt4 } from "./count";
import { expandChunk, expandInto } from "./expand-chunk";
import { SPARSE_COUNT_LIMIT, SPARSE_SCAN_LIMIT, flattenLists, markSparse, markUnused } from "./sparse-lists";
import {
  ACC_MIXED, ACC_ONES, ACC_ZERO, FLAT_AT, ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, SPARSE_TAG, ZERO_PAGE, isSparse, pageEntry, tableAt,
} from "./layout";

/**
 * The page is the OR the list describes (and the accumulator, when partial). The
 * state word carries both: ACC_LISTED | partial << 2 | entries << 3.
 */
// @ts-ignore: decorator
@inline export const ACC_LISTED: u32 = 3;
// @ts-ignore: decorator
@inline const PARTIAL: u32 = 4;
/** List entries: (bits, meta) u32 pairs in the page after the accumulator. */
// @ts-ignore: decorator
@inline export const GROUP: u32 = PAGE_BYTES >> 3;

// @ts-ignore: decorator
@inline export function listAt(acc: usize): usize {
  return acc + PAGE_BYTES;
}

/** True for a LISTED state (whatever its length and partial flag). */
// @ts-ignore: decorator
@inline export function isListed(state: u32): bool {
  return (state & 3) == ACC_LISTED;
}

/** Entries in the list of a LISTED state. */
// @ts-ignore: decorator
@inline export function listLength(state: u32): u32 {
  return state >> 3;
}

/** Whether the accumulator holds part of the page (a full group was ORed in). */
// @ts-ignore: decorator
@inline export function isPartial(state: u32): bool {
  return (state & PARTIAL) != 0;
}

const G3_BITS: v128 = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);

/** Part `part` (16 output bytes) of the g = 3 expansion of 8 meta bytes splatted in m: each byte's own bit. */
// @ts-ignore: decorator
@inline function g3Lanes(m: v128, part: i32): v128 {
  let v: v128;
  if (part == 0) v = i8x16.shuffle(m, m, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  else if (part == 1) v = i8x16.shuffle(m, m, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  else if (part == 2) v = i8x16.shuffle(m, m, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5);
  else v = i8x16.shuffle(m, m, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7);
  return v128.and(v, G3_BITS);
}

/** Part `part` of the g = 3 expansion of m as a byte mask: 0xFF where the granule's bit is set. */
// @ts-ignore: decorator
@inline function g3Mask(m: v128, part: i32): v128 {
  return i8x16.eq(g3Lanes(m, part), G3_BITS);
}

/** expand(meta) for output chunk `chunk` (16 bytes, part `part` of a 64-byte step; m from g3Load). */
// @ts-ignore: decorator
@inline function expandPart(meta: usize, chunk: u32, g: i32, m: v128, part: i32): v128 {
  if (g == 3) return g3Mask(m, part);
  return expandChunk(meta, chunk, <u32>g);
}

/** The 8 meta bytes of a 64-byte output step at g = 3, splatted (other g: unused). */
// @ts-ignore: decorator
@inline function g3Load(meta: usize, off: usize, g: i32): v128 {
  if (g == 3) return i64x2.splat(load<u64>(meta + (off >> 3)));
  return i8x16.splat(0);
}

/** Scratch for the meta-level part of a page: the third page of the accumulator. */
// @ts-ignore: decorator
@inline export function unusedAt(acc: usize): usize {
  return acc + 2 * PAGE_BYTES;
}

/** Whether any of the n (bits, meta) entries at `list` has a meta slice. */
// @ts-ignore: decorator
@inline function metaListed(list: usize, n: u32): bool {
  let end = list + (<usize>n << 3);
  for (let e = list; e < end; e += 8) if (load<u32>(e, 4) != 0) return true;
  return false;
}

/** The first entry at or after e (before end) with a meta slice; end when none. */
// @ts-ignore: decorator
@inline function nextMeta(e: usize, end: usize): usize {
  while (e < end && load<u32>(e, 4) == 0) e += 8;
  return e;
}

/**
 * Stores at x the AND of k (4 or 8, a constant where inlined) slices a..h, and of x
 * itself when folded: a group of slices before the last.
 */
// @ts-ignore: decorator
@inline function foldSlices(
  k: u32, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize, g: usize, h: usize, x: usize, folded: bool, bytes: usize,
): void {
  for (let off: usize = 0; off < bytes; off += 32) {
    let v0 = v128.and(v128.load(a + off), v128.load(b + off));
    let v1 = v128.and(v128.load(a + off, 16), v128.load(b + off, 16));
    v0 = v128.and(v0, v128.load(c + off)); v1 = v128.and(v1, v128.load(c + off, 16));
    v0 = v128.and(v0, v128.load(d + off)); v1 = v128.and(v1, v128.load(d + off, 16));
    if (k > 4) {
      v0 = v128.and(v0, v128.load(e + off)); v1 = v128.and(v1, v128.load(e + off, 16));
      v0 = v128.and(v0, v128.load(f + off)); v1 = v128.and(v1, v128.load(f + off, 16));
      v0 = v128.and(v0, v128.load(g + off)); v1 = v128.and(v1, v128.load(g + off, 16));
      v0 = v128.and(v0, v128.load(h + off)); v1 = v128.and(v1, v128.load(h + off, 16));
    }
    if (folded) { v0 = v128.and(v0, v128.load(x + off)); v1 = v128.and(v1, v128.load(x + off, 16)); }
    v128.store(x + off, v0);
    v128.store(x + off, v1, 16);
  }
}

/**
 * The last group (k slices): X = live & ~(AND of the slices and the folded groups),
 * stored at x when `write`, its set bits returned when `count` (else 0). Both halves
 * of a step read slice by slice (a, a + 16, b, b + 16, ...): half by half took 1.12 x
 * the time at K = 4 (the same order helps the OR of pages in count.ts).
 */
// @ts-ignore: decorator
@inline function lastSlices(
  k: u32, a: usize, b: usize, c: usize, d: usize, x: usize, folded: bool, mask: usize, bytes: usize, write: bool, count: bool,
): u32 {
  let ones: u64 = 0;
  for (let off: usize = 0; off < bytes; off += 32) {
    let v0 = v128.load(a + off), v1 = v128.load(a + off, 16);
    if (k > 1) { v0 = v128.and(v0, v128.load(b + off)); v1 = v128.and(v1, v128.load(b + off, 16)); }
    if (k > 2) { v0 = v128.and(v0, v128.load(c + off)); v1 = v128.and(v1, v128.load(c + off, 16)); }
    if (k > 3) { v0 = v128.and(v0, v128.load(d + off)); v1 = v128.and(v1, v128.load(d + off, 16)); }
    if (folded) { v0 = v128.and(v0, v128.load(x + off)); v1 = v128.and(v1, v128.load(x + off, 16)); }
    let u0 = mask != 0 ? v128.andnot(v128.load(mask + off), v0) : v128.not(v0);
    let u1 = mask != 0 ? v128.andnot(v128.load(mask + off, 16), v1) : v128.not(v1);
    if (write) {
      v128.store(x + off, u0);
      v128.store(x + off, u1, 16);
    }
    if (count) {
      ones += popcnt(i64x2.extract_lane(u0, 0)) + popcnt(i64x2.extract_lane(u0, 1))
        + popcnt(i64x2.extract_lane(u1, 0)) + popcnt(i64x2.extract_lane(u1, 1));
    }
  }
  return <u32>ones;
}

/**
 * The meta-level half of FIG. 40, before any expansion: X = live & OR over the listed
 * meta slices of ~meta (= live & ~AND of them), over PAGE_BYTES >> g bytes. All maps
 * share one granularity, so this runs on the meta bytes as they are (8x fewer at
 * g = 3) and reads each one once, storing X in the scratch page (unusedAt); `count`
 * returns its set bits (granules), else 0. `mask` 0: every block in use in M.
 * Returns -1 when no listed entry has a meta slice (X is then all zeros, not written).
 * The slices go four at a time with their offsets in locals, not a walk of the list
 * every 32 bytes (which took most of the time of a count where the bit maps have no
 * page: 256M x K = 4 at g = 3, 0.01 %); groups before the last AND into the scratch page,
 * eight at a time where eight more come after (K = 16: 1.07-1.16 x over fours).
 */
// @ts-ignore: decorator
@inline export function unusedPass(acc: usize, n: u32, mask: usize, g: i32, count: bool): i32 {
  return unusedPassOver(listAt(acc), n, unusedAt(acc), mask, <usize>(PAGE_BYTES >> <u32>g), true, count);
}

/**
 * unusedPass over `bytes` (a multiple of 32, at most PAGE_BYTES) of each slice the n
 * entries at `list` name, with x (as many bytes) to fold into and, when `write`, to
 * write X to (a count of pages without bit map bits, lib/bare-pages.ts, only counts).
 */
// @ts-ignore: decorator
@inline export function unusedPassOver(
  list: usize, n: u32, x: usize, mask: usize, bytes: usize, write: bool, count: bool,
): i32 {
  let end = list + (<usize>n << 3);
  let e = nextMeta(list, end);
  if (e == end) return -1;
  let folded = false;
  while (true) {
    let a = <usize>load<u32>(e, 4);
    e = nextMeta(e + 8, end);
    if (e == end) return <i32>lastSlices(1, a, a, a, a, x, folded, mask, bytes, write, count);
    let b = <usize>load<u32>(e, 4);
    e = nextMeta(e + 8, end);
    if (e == end) return <i32>lastSlices(2, a, b, b, b, x, folded, mask, bytes, write, count);
    let c = <usize>load<u32>(e, 4);
    e = nextMeta(e + 8, end);
    if (e == end) return <i32>lastSlices(3, a, b, c, c, x, folded, mask, bytes, write, count);
    let d = <usize>load<u32>(e, 4);
    e = nextMeta(e + 8, end);
    if (e == end) return <i32>lastSlices(4, a, b, c, d, x, folded, mask, bytes, write, count);
    // Eight with more after them fold in one pass.
    let p = e;
    let a2 = <usize>load<u32>(p, 4);
    p = nextMeta(p + 8, end);
    if (p != end) {
      let b2 = <usize>load<u32>(p, 4);
      p = nextMeta(p + 8, end);
      if (p != end) {
        let c2 = <usize>load<u32>(p, 4);
        p = nextMeta(p + 8, end);
        if (p != end) {
          let d2 = <usize>load<u32>(p, 4);
          p = nextMeta(p + 8, end);
          if (p != end) {
            foldSlices(8, a, b, c, d, a2, b2, c2, d2, x, folded, bytes);
            folded = true;
            e = p;
            continue;
          }
        }
      }
    }
    foldSlices(4, a, b, c, d, a, b, c, d, x, folded, bytes);
    folded = true;
  }
  return -1;
}

/**
 * ORs the listed sparse pages into the accumulator (zeroed first unless it already
 * holds part of the page) and drops them from the list. Returns whether the
 * accumulator now holds part of the page.
 */
function applySparse(acc: usize, list: usize, end: usize, part0: bool): bool {
  for (let e = list; e < end; e += 8) {
    let entry = load<u32>(e);
    if (!isSparse(entry)) continue;
    if (!part0) {
      memory.fill(acc, 0, PAGE_BYTES);
      part0 = true;
    }
    let sparse = <usize>(entry - SPARSE_TAG);
    let bitsEnd = sparse + 2 + (<usize>load<u16>(sparse) << 1);
    for (let at = sparse + 2; at < bitsEnd; at += 2) {
      let bit = <usize>load<u16>(at);
      let word = acc + ((bit >> 6) << 3);
      store<u64>(word, load<u64>(word) | (<u64>1 << <u64>(bit & 63)));
    }
    store<u32>(e, 0);
  }
  return part0;
}

/**
 * Copies the nonzero bit map and meta offsets of the list [list, end) to two u32
 * lists at bitsList and metaList (GROUP entries at most: 2 KiB each), so the fused
 * loops run without per-entry branches. Returns their ends: bits | meta << 32.
 */
// @ts-ignore: decorator
@inline function splitList(list: usize, end: usize, bitsList: usize, metaList: usize): u64 {
  let bitsEnd = bitsList, metaEnd = metaList;
  for (let e = list; e < end; e += 8) {
    let bits = load<u32>(e), meta = load<u32>(e, 4);
    if (bits != 0) { store<u32>(bitsEnd, bits); bitsEnd += 4; }
    if (meta != 0) { store<u32>(metaEnd, meta); metaEnd += 4; }
  }
  return <u64>bitsEnd | (<u64>metaEnd << 32);
}

/**
 * countFusedG3 with one to four bit map pages (b0..b3) and one to four meta slices
 * (m0..m3), their offsets in locals: nb pages and nm slices read (constants where
 * inlined). The same sums with the lists' loops gone (their loads, tests and trips
 * every 64 bytes). With one slice the expansion is skipped where every granule of the
 * 64 bytes counts (y all ones), as on a volume in use throughout; with more it always
 * runs, since there y is all ones in some steps and not others (15 % of them at K = 2
 * with 1 % of granules out of use in each map) and the branch, mispredicted, made
 * K = 2 slower than the lists' loop (0.85 x; 1.11 x faster without it).
 */
// @ts-ignore: decorator
@inline function countFewG3(
  nb: u32, nm: u32, b0: usize, b1: usize, b2: usize, b3: usize, m0: usize, m1: usize, m2: usize, m3: usize, mask: usize,
): u32 {
  let bOnes: u64 = 0;
  let xOnes: u64 = 0;
  for (let off: usize = 0; off < <usize>PAGE_BYTES; off += 64) {
    let at = off >> 3;
    let a = load<u64>(m0 + at);
    if (nm > 1) a &= load<u64>(m1 + at);
    if (nm > 2) a &= load<u64>(m2 + at);
    if (nm > 3) a &= load<u64>(m3 + at);
    let live: u64 = mask != 0 ? load<u64>(mask + at) : -1;
    xOnes += popcnt(live & ~a);
    let y = live & a;
    if (nb == 1 && nm == 1 && y == -1) {
      // Every granule counts and one page is listed: its bits, read as words (a vector
      // and its two lanes took 1.3 x as long for the same popcounts).
      bOnes += popcnt(load<u64>(b0 + off)) + popcnt(load<u64>(b0 + off, 8))
        + popcnt(load<u64>(b0 + off, 16)) + popcnt(load<u64>(b0 + off, 24))
        + popcnt(load<u64>(b0 + off, 32)) + popcnt(load<u64>(b0 + off, 40))
        + popcnt(load<u64>(b0 + off, 48)) + popcnt(load<u64>(b0 + off, 56));
      continue;
    }
    let x0 = v128.load(b0 + off), x1 = v128.load(b0 + off, 16);
    let x2 = v128.load(b0 + off, 32), x3 = v128.load(b0 + off, 48);
    if (nb > 1) {
      x0 = v128.or(x0, v128.load(b1 + off)); x1 = v128.or(x1, v128.load(b1 + off, 16));
      x2 = v128.or(x2, v128.load(b1 + off, 32)); x3 = v128.or(x3, v128.load(b1 + off, 48));
    }
    if (nb > 2) {
      x0 = v128.or(x0, v128.load(b2 + off)); x1 = v128.or(x1, v128.load(b2 + off, 16));
      x2 = v128.or(x2, v128.load(b2 + off, 32)); x3 = v128.or(x3, v128.load(b2 + off, 48));
    }
    if (nb > 3) {
      x0 = v128.or(x0, v128.load(b3 + off)); x1 = v128.or(x1, v128.load(b3 + off, 16));
      x2 = v128.or(x2, v128.load(b3 + off, 32)); x3 = v128.or(x3, v128.load(b3 + off, 48));
    }
    if (nm > 1 || y != -1) {
      let m = i64x2.splat(y);
      x0 = v128.and(x0, g3Mask(m, 0)); x1 = v128.and(x1, g3Mask(m, 1));
      x2 = v128.and(x2, g3Mask(m, 2)); x3 = v128.and(x3, g3Mask(m, 3));
    }
    bOnes += popcnt4(x0, x1, x2, x3);
  }
  return <u32>((xOnes << 3) + bOnes);
}

/**
 * countFewG3 for the nb bit map pages and nm meta slices listed at bitsList and
 * metaList (1 to 4 each): K = 1 (the delta of a replication cut) reads one of each;
 * else the pages as many as they are and the slices as four, the last repeated (AND
 * is idempotent; a slice is one 8-byte load a step, where a repeated page would be
 * four loads and ORs more: padding the pages too made K = 2 1.18 x slower).
 */
// @ts-ignore: decorator
@inline function countFewListedG3(bitsList: usize, nb: u32, metaList: usize, nm: u32, mask: usize): u32 {
  let b0 = <usize>load<u32>(bitsList), m0 = <usize>load<u32>(metaList);
  if (nb == 1 && nm == 1) return countFewG3(1, 1, b0, b0, b0, b0, m0, m0, m0, m0, mask);
  let m1 = nm > 1 ? <usize>load<u32>(metaList, 4) : m0;
  let m2 = nm > 2 ? <usize>load<u32>(metaList, 8) : m1;
  let m3 = nm > 3 ? <usize>load<u32>(metaList, 12) : m2;
  if (nb == 1) return countFewG3(1, 4, b0, b0, b0, b0, m0, m1, m2, m3, mask);
  let b1 = <usize>load<u32>(bitsList, 4);
  if (nb == 2) return countFewG3(2, 4, b0, b1, b1, b1, m0, m1, m2, m3, mask);
  let b2 = <usize>load<u32>(bitsList, 8);
  if (nb == 3) return countFewG3(3, 4, b0, b1, b2, b2, m0, m1, m2, m3, mask);
  return countFewG3(4, 4, b0, b1, b2, <usize>load<u32>(bitsList, 12), m0, m1, m2, m3, mask);
}

/**
 * A g = 3 count in one pass over the page, every map read as it is needed: per 256
 * bytes of B the 32 meta bytes of each listed slice and of live give a = AND meta,
 * X = live & ~a (counted at meta level, 8 blocks a bit) and Y = live & a, and B's
 * bits count only in Y's granules: changed = expand(X) + (B & expand(Y)), one
 * expansion a 64-byte step. In one pass the K + 1 meta streams are read beside the bit
 * map pages rather than before them: 0.85-0.95 x the time of keptPass then a pass over
 * B (256M blocks, K = 4 and 16, same run), where the other g keep the two passes. The
 * slices go in two vectors a trip, not an 8-byte load a step: with many checkpoints
 * their loop was most of the work where few bit map pages are stored (256M x K = 16 at
 * g = 3, `bench/lib/count-ab.mjs`: clustered 1 % 1.20 x, 50 % 1.08 x, runs 1 % 1.06-1.08 x,
 * scattered even).
 */
// @ts-ignore: decorator
@inline function countFusedG3(acc: usize, n: u32, part0: bool, mask: usize): u32 {
  let list = listAt(acc);
  let end = list + (<usize>n << 3);
  part0 = applySparse(acc, list, end, part0);
  let bitsList = unusedAt(acc);
  let metaList = bitsList + (PAGE_BYTES >> 1);
  let ends = splitList(list, end, bitsList, metaList);
  let bitsEnd = <usize>(ends & 0xFFFFFFFF), metaEnd = <usize>(ends >> 32);
  // The accumulator, when it holds part of the page, is one more bit map page.
  let nb = <u32>((bitsEnd - bitsList) >> 2) + <u32>part0, nm = <u32>((metaEnd - metaList) >> 2);
  if (nb >= 1 && nb <= 4 && nm >= 1 && nm <= 4) {
    if (part0) store<u32>(bitsEnd, <u32>acc);
    return countFewListedG3(bitsList, nb, metaList, nm, mask);
  }
  let bOnes: u64 = 0;
  let xOnes: u64 = 0;
  let ones = v128.not(i8x16.splat(0));
  // 256 bytes of the page a step: the meta slices' 32 bytes for them in two vectors (one
  // trip of the slice loop, not four of 8-byte loads), then four 64-byte steps of bits.
  for (let off: usize = 0; off < <usize>PAGE_BYTES; off += 256) {
    let at = off >> 3;
    let a0 = ones, a1 = ones;
    for (let p = metaList; p < metaEnd; p += 4) {
      let slice = <usize>load<u32>(p) + at;
      a0 = v128.and(a0, v128.load(slice)); a1 = v128.and(a1, v128.load(slice, 16));
    }
    let l0 = ones, l1 = ones;
    if (mask != 0) { l0 = v128.load(mask + at); l1 = v128.load(mask + at, 16); }
    xOnes += popcnt2(v128.andnot(l0, a0), v128.andnot(l1, a1));
    let y0 = v128.and(l0, a0), y1 = v128.and(l1, a1);
    // The four steps' meta words in turn: ya is the current one.
    let ya = i64x2.extract_lane(y0, 0), yb = i64x2.extract_lane(y0, 1);
    let yc = i64x2.extract_lane(y1, 0), yd = i64x2.extract_lane(y1, 1);
    for (let step = off; step < off + 256; step += 64) {
      bOnes += maskedOrStep(acc, step, part0, bitsList, bitsEnd, i64x2.splat(ya));
      ya = yb; yb = yc; yc = yd;
    }
  }
  return <u32>((xOnes << 3) + bOnes);
}

/**
 * Set bits of 64 bytes at `off` of the OR of the bit map pages listed (u32) from
 * bitsList to bitsEnd (and the accumulator, when part0), masked by the g = 3
 * expansion of the 8 meta bytes splatted in m. Two pages a trip (an odd one first):
 * 256M x K = 16 runs 1 % 1.16 x, clustered 50 % 1.14 x, dense pages 1.03-1.04 x from
 * RAM, 0.97 x in cache (16M scattered 50 %).
 */
// @ts-ignore: decorator
@inline function maskedOrStep(acc: usize, off: usize, part0: bool, bitsList: usize, bitsEnd: usize, m: v128): u64 {
  let zero = i8x16.splat(0);
  let x0 = zero, x1 = zero, x2 = zero, x3 = zero;
  if (part0) {
    x0 = v128.load(acc + off); x1 = v128.load(acc + off, 16);
    x2 = v128.load(acc + off, 32); x3 = v128.load(acc + off, 48);
  }
  let p = bitsList;
  if (((bitsEnd - bitsList) & 4) != 0) {
    let bits = <usize>load<u32>(p) + off;
    x0 = v128.or(x0, v128.load(bits)); x1 = v128.or(x1, v128.load(bits, 16));
    x2 = v128.or(x2, v128.load(bits, 32)); x3 = v128.or(x3, v128.load(bits, 48));
    p += 4;
  }
  for (; p < bitsEnd; p += 8) {
    let b = <usize>load<u32>(p) + off, c = <usize>load<u32>(p, 4) + off;
    x0 = v128.or(x0, v128.or(v128.load(b), v128.load(c))); x1 = v128.or(x1, v128.or(v128.load(b, 16), v128.load(c, 16)));
    x2 = v128.or(x2, v128.or(v128.load(b, 32), v128.load(c, 32))); x3 = v128.or(x3, v128.or(v128.load(b, 48), v128.load(c, 48)));
  }
  x0 = v128.and(x0, g3Mask(m, 0)); x1 = v128.and(x1, g3Mask(m, 1));
  x2 = v128.and(x2, g3Mask(m, 2)); x3 = v128.and(x3, g3Mask(m, 3));
  return popcnt4(x0, x1, x2, x3);
}

/**
 * g = 0 in one pass: the meta level is the page itself, so a separate meta pass would
 * read the K + 1 meta pages, write X, and the main pass read live and X again. Here
 * each 64 bytes take x = OR bits | ~(AND meta), & live, stored or counted. The listed
 * pages are first sorted into two pointer lists in the scratch page (bit map pages,
 * then meta pages: at most GROUP each, 2 KiB), so the loop has no per-entry branches.
 */
// @ts-ignore: decorator
@inline function fusedG0(acc: usize, n: u32, part0: bool, mask: usize, write: bool): u32 {
  let list = listAt(acc);
  let end = list + (<usize>n << 3);
  part0 = applySparse(acc, list, end, part0);
  let bitsList = unusedAt(acc);
  let metaList = bitsList + (PAGE_BYTES >> 1);
  let ends = splitList(list, end, bitsList, metaList);
  let bitsEnd = <usize>(ends & 0xFFFFFFFF), metaEnd = <usize>(ends >> 32);
  let ones: u64 = 0;
  let zero = i8x16.splat(0);
  let allOnes = v128.not(zero);
  for (let off: usize = 0; off < <usize>PAGE_BYTES; off += 64) {
    let x0 = zero, x1 = zero, x2 = zero, x3 = zero;
    if (part0) {
      x0 = v128.load(acc + off); x1 = v128.load(acc + off, 16);
      x2 = v128.load(acc + off, 32); x3 = v128.load(acc + off, 48);
    }
    for (let p = bitsList; p < bitsEnd; p += 4) {
      let bits = <usize>load<u32>(p);
      x0 = v128.or(x0, v128.load(bits + off)); x1 = v128.or(x1, v128.load(bits + off, 16));
      x2 = v128.or(x2, v128.load(bits + off, 32)); x3 = v128.or(x3, v128.load(bits + off, 48));
    }
    if (metaList < metaEnd) {
      // In use after every checkpoint: AND of the meta pages, one NOT at the end.
      let a0 = allOnes, a1 = allOnes, a2 = allOnes, a3 = allOnes;
      for (let p = metaList; p < metaEnd; p += 4) {
        let meta = <usize>load<u32>(p);
        a0 = v128.and(a0, v128.load(meta + off)); a1 = v128.and(a1, v128.load(meta + off, 16));
        a2 = v128.and(a2, v128.load(meta + off, 32)); a3 = v128.and(a3, v128.load(meta + off, 48));
      }
      x0 = v128.or(x0, v128.not(a0)); x1 = v128.or(x1, v128.not(a1));
      x2 = v128.or(x2, v128.not(a2)); x3 = v128.or(x3, v128.not(a3));
    }
    if (mask != 0) {
      x0 = v128.and(x0, v128.load(mask + off)); x1 = v128.and(x1, v128.load(mask + off, 16));
      x2 = v128.and(x2, v128.load(mask + off, 32)); x3 = v128.and(x3, v128.load(mask + off, 48));
    }
    if (write) {
      v128.store(acc + off, x0); v128.store(acc + off, x1, 16);
      v128.store(acc + off, x2, 32); v128.store(acc + off, x3, 48);
    } else {
      ones += popcnt4(x0, x1, x2, x3);
    }
  }
  return <u32>ones;
}

/** keptPass's flag beside the count: some granule of Y is set (B must be read). */
// @ts-ignore: decorator
@inline const KEPT_ANY: u32 = 1 << 20;

/**
 * Y = live & AND over the listed meta slices of meta (granules in use in M and after
 * every checkpoint: ~Y & live is X), into the scratch page. Returns the set bits of X
 * at meta level (at most 2^14 for g >= 1), | KEPT_ANY when Y is not all zeros. Only
 * called with at least one meta slice listed.
 */
// @ts-ignore: decorator
@inline function keptPass(acc: usize, list: usize, end: usize, mask: usize, g: i32): u32 {
  let y = unusedAt(acc);
  let bytes = <usize>(PAGE_BYTES >> <u32>g);
  let ones: u64 = 0;
  let any = i8x16.splat(0);
  for (let off: usize = 0; off < bytes; off += 16) {
    let a = v128.not(i8x16.splat(0));
    for (let e = list; e < end; e += 8) {
      let meta = <usize>load<u32>(e, 4);
      if (meta != 0) a = v128.and(a, v128.load(meta + off));
    }
    let live = mask != 0 ? v128.load(mask + off) : v128.not(i8x16.splat(0));
    let x = v128.andnot(live, a);
    ones += popcnt(i64x2.extract_lane(x, 0)) + popcnt(i64x2.extract_lane(x, 1));
    let kept = v128.and(live, a);
    any = v128.or(any, kept);
    v128.store(y + off, kept);
  }
  return <u32>ones | (v128.any_true(any) ? KEPT_ANY : 0);
}

/**
 * A count at g > 0 with one expansion a step instead of two: changed is expand(X)
 * plus B's bits in granules outside X and in use in M, so its set bits are
 * popcount(X) << g (counted at meta level) + popcount(B & expand(Y)) with
 * Y = live & ~X (keptPass). Without meta slices Y is live itself, and with no live
 * mask either B is counted as it is.
 */
// @ts-ignore: decorator
@inline function countSplit(acc: usize, n: u32, part0: bool, mask: usize, g: i32): u32 {
  let list = listAt(acc);
  let end = list + (<usize>n << 3);
  part0 = applySparse(acc, list, end, part0);
  let anyMeta = false, anyBits = part0;
  for (let e = list; e < end; e += 8) {
    anyMeta = anyMeta || load<u32>(e, 4) != 0;
    anyBits = anyBits || load<u32>(e) != 0;
  }
  let xOnes: u32 = 0;
  let kept = mask;
  if (anyMeta) {
    let pass = keptPass(acc, list, end, mask, g);
    xOnes = pass & (KEPT_ANY - 1);
    kept = unusedAt(acc);
    // No granule outside X is in use in M: B cannot add a block.
    anyBits = anyBits && (pass & KEPT_ANY) != 0;
  }
  if (!anyBits) return xOnes << <u32>g;
  let bOnes: u64 = 0;
  let zero = i8x16.splat(0);
  for (let off: usize = 0; off < <usize>PAGE_BYTES; off += 64) {
    let x0 = zero, x1 = zero, x2 = zero, x3 = zero;
    if (part0) {
      x0 = v128.load(acc + off); x1 = v128.load(acc + off, 16);
      x2 = v128.load(acc + off, 32); x3 = v128.load(acc + off, 48);
    }
    for (let e = list; e < end; e += 8) {
      let bits = <usize>load<u32>(e);
      if (bits != 0) {
        x0 = v128.or(x0, v128.load(bits + off)); x1 = v128.or(x1, v128.load(bits + off, 16));
        x2 = v128.or(x2, v128.load(bits + off, 32)); x3 = v128.or(x3, v128.load(bits + off, 48));
      }
    }
    if (kept != 0) {
      let chunk = <u32>(off >> 4);
      let m = g3Load(kept, off, g);
      x0 = v128.and(x0, expandPart(kept, chunk, g, m, 0)); x1 = v128.and(x1, expandPart(kept, chunk + 1, g, m, 1));
      x2 = v128.and(x2, expandPart(kept, chunk + 2, g, m, 2)); x3 = v128.and(x3, expandPart(kept, chunk + 3, g, m, 3));
    }
    bOnes += popcnt4(x0, x1, x2, x3);
  }
  return (xOnes << <u32>g) + <u32>bOnes;
}

/**
 * One pass over the page for a constant g (-1: plain, no meta) and a constant output:
 * `store` writes the page to acc and returns 0; else it returns the set bits. Per
 * 64 bytes: B = OR of the listed bit map pages (and the accumulator, when part0),
 * then changed = (B & expand(live)) | expand(X) with X from unusedPass, so a step
 * expands at most two slices, however many checkpoints there are.
 */
// @ts-ignore: decorator
@inline function resolveAt(acc: usize, n: u32, part0: bool, mask: usize, g: i32, store: bool): u32 {
  if (g == 0) return fusedG0(acc, n, part0, mask, store);
  if (g == 3 && !store) return countFusedG3(acc, n, part0, mask);
  if (g > 0 && !store) return countSplit(acc, n, part0, mask, g);
  let list = listAt(acc);
  let end = list + (<usize>n << 3);
  part0 = applySparse(acc, list, end, part0);
  let unused = g >= 0 && unusedPass(acc, n, mask, g, false) >= 0;
  let x = unusedAt(acc);
  let anyBits = part0;
  for (let e = list; e < end; e += 8) anyBits = anyBits || load<u32>(e) != 0;
  if (!anyBits && g >= 0) {
    // Only meta slices: the page is expand(X), counted without expanding.
    if (!unused) {
      if (store) memory.fill(acc, 0, PAGE_BYTES);
      return 0;
    }
    if (store) {
      expandInto(x, acc, PAGE_BYTES, <u32>g);
      return 0;
    }
    let ones: u64 = 0;
    let bytes = <usize>(PAGE_BYTES >> <u32>g);
    for (let i: usize = 0; i < bytes; i += 8) ones += popcnt(load<u64>(x + i));
    return <u32>(ones << <u64>g);
  }
  // One bit map page and nothing to mask: its count, with no OR and no accumulator.
  if (!store && g < 0 && n == 1 && !part0 && load<u32>(list) != 0) return countPage(<usize>load<u32>(list));
  // Two to four dense pages (after applySparse, none is a zeroed sparse entry unless part0): unrolled.
  if (!store && g < 0 && n >= 2 && n <= 4 && !part0) return countOrPages(list, n);
  let ones: u64 = 0;
  let zero = i8x16.splat(0);
  for (let off: usize = 0; off < <usize>PAGE_BYTES; off += 64) {
    let x0 = zero, x1 = zero, x2 = zero, x3 = zero;
    if (part0) {
      x0 = v128.load(acc + off); x1 = v128.load(acc + off, 16);
      x2 = v128.load(acc + off, 32); x3 = v128.load(acc + off, 48);
    }
    let chunk = <u32>(off >> 4);
    for (let e = list; e < end; e += 8) {
      let bits = <usize>load<u32>(e);
      if (bits != 0) {
        x0 = v128.or(x0, v128.load(bits + off)); x1 = v128.or(x1, v128.load(bits + off, 16));
        x2 = v128.or(x2, v128.load(bits + off, 32)); x3 = v128.or(x3, v128.load(bits + off, 48));
      }
    }
    if (g >= 0 && mask != 0) {
      let m = g3Load(mask, off, g);
      x0 = v128.and(x0, expandPart(mask, chunk, g, m, 0)); x1 = v128.and(x1, expandPart(mask, chunk + 1, g, m, 1));
      x2 = v128.and(x2, expandPart(mask, chunk + 2, g, m, 2)); x3 = v128.and(x3, expandPart(mask, chunk + 3, g, m, 3));
    }
    if (g >= 0 && unused) {
      let m = g3Load(x, off, g);
      x0 = v128.or(x0, expandPart(x, chunk, g, m, 0)); x1 = v128.or(x1, expandPart(x, chunk + 1, g, m, 1));
      x2 = v128.or(x2, expandPart(x, chunk + 2, g, m, 2)); x3 = v128.or(x3, expandPart(x, chunk + 3, g, m, 3));
    }
    if (store) {
      v128.store(acc + off, x0); v128.store(acc + off, x1, 16);
      v128.store(acc + off, x2, 32); v128.store(acc + off, x3, 48);
    } else {
      ones += popcnt4(x0, x1, x2, x3);
    }
  }
  return <u32>ones;
}

// One function per g and output, so each loop is compiled (and its registers
// allocated) on its own rather than as one case of a large function.
function storePlain(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, 0, -1, true); }
function storeG0(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 0, true); }
function storeG1(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 1, true); }
function storeG2(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 2, true); }
function storeG3(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 3, true); }
function storeG4(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 4, true); }
function storeG5(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 5, true); }
function storeG6(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 6, true); }
function countPlain(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, 0, -1, false); }
function countG0(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 0, false); }
function countG1(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 1, false); }
function countG2(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 2, false); }
function countG3(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 3, false); }
function countG4(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 4, false); }
function countG5(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 5, false); }
function countG6(acc: usize, n: u32, part0: bool, mask: usize): u32 { return resolveAt(acc, n, part0, mask, 6, false); }

/** resolveAt for g (-1: plain): writes the page to acc (`store`), else returns its set bits. */
function resolvePass(acc: usize, n: u32, part0: bool, mask: usize, g: i32, store: bool): u32 {
  if (store) {
    switch (g) {
      case -1: return storePlain(acc, n, part0, mask);
      case 0: return storeG0(acc, n, part0, mask);
      case 1: return storeG1(acc, n, part0, mask);
      case 2: return storeG2(acc, n, part0, mask);
      case 3: return storeG3(acc, n, part0, mask);
      case 4: return storeG4(acc, n, part0, mask);
      case 5: return storeG5(acc, n, part0, mask);
      default: return storeG6(acc, n, part0, mask);
    }
  }
  switch (g) {
    case -1: return countPlain(acc, n, part0, mask);
    case 0: return countG0(acc, n, part0, mask);
    case 1: return countG1(acc, n, part0, mask);
    case 2: return countG2(acc, n, part0, mask);
    case 3: return countG3(acc, n, part0, mask);
    case 4: return countG4(acc, n, part0, mask);
    case 5: return countG5(acc, n, part0, mask);
    default: return countG6(acc, n, part0, mask);
  }
}

/**
 * Adds (bits, meta) to the list of a LISTED state and returns the new state; a full
 * list is ORed into the accumulator first (the state then says partial).
 */
// @ts-ignore: decorator
@inline function addEntry(acc: usize, state: u32, bits: u32, meta: u32, g: i32): u32 {
  let n = listLength(state);
  if (n == GROUP) {
    resolvePass(acc, n, isPartial(state), 0, g, true);
    state = ACC_LISTED | PARTIAL;
    n = 0;
  }
  let at = listAt(acc) + (<usize>n << 3);
  store<u32>(at, bits);
  store<u32>(at, meta, 4);
  return state + (1 << 3);
}

/** ZERO when nothing was listed (nor ORed in), else the LISTED state. */
// @ts-ignore: decorator
@inline function endList(state: u32): u32 {
  return state == ACC_LISTED ? ACC_ZERO : state;
}

/** Page `page` of OR over the bit maps whose page tables are listed at `tables`: ZERO, ONES or LISTED. */
export function gatherPlain(tables: usize, count: u32, page: u32, acc: usize): u32 {
  let state = ACC_LISTED;
  for (let i: u32 = 0; i < count; i++) {
    let entry = pageEntry(tableAt(tables, i), page);
    if (entry == ZERO_PAGE) continue;
    if (entry == ONES_PAGE) return ACC_ONES;
    state = addEntry(acc, state, entry, 0, -1);
  }
  return endList(state);
}

/**
 * A meta slice of `bytes` that is all zeros or all ones reads as the sentinel, so
 * the common cases (nothing or everything in use) skip the expansion. A mixed slice
 * usually shows both within its first bytes, and the test stops there.
 */
function sliceEntry(slice: usize, bytes: u32): u32 {
  let any = i8x16.splat(0);
  let all = v128.not(any);
  // 64 bytes a step (g <= 6: a slice is 64 bytes or more), one test a step.
  for (let i: usize = 0; i < <usize>bytes; i += 64) {
    let x0 = v128.load(slice + i), x1 = v128.load(slice + i, 16);
    let x2 = v128.load(slice + i, 32), x3 = v128.load(slice + i, 48);
    any = v128.or(any, v128.or(v128.or(x0, x1), v128.or(x2, x3)));
    all = v128.and(all, v128.and(v128.and(x0, x1), v128.and(x2, x3)));
    if (v128.any_true(any) && v128.any_true(v128.not(all))) return <u32>slice;
  }
  if (!v128.any_true(any)) return ZERO_PAGE;
  if (!v128.any_true(v128.not(all))) return ONES_PAGE;
  return <u32>slice;
}

/** Where the meta bits of block page `page` start: a slice of PAGE_BYTES >> g bytes. */
// @ts-ignore: decorator
@inline export function metaSlice(entry: u32, page: u32, g: u32): usize {
  return <usize>entry + <usize>((page & ((1 << g) - 1)) * (PAGE_BYTES >> g));
}

/** The meta bits of block page `page`, as a slice offset or a sentinel. */
export function metaEntry(table: usize, page: u32, g: u32): u32 {
  let entry = pageEntry(table, page >> g);
  if (entry <= ONES_PAGE) return entry;
  return sliceEntry(metaSlice(entry, page, g), PAGE_BYTES >> g);
}

/**
 * The meta bits of block page `page` without reading them: a sentinel when the page
 * table says so, else the slice's offset. A count reads each slice once, in its meta
 * pass, instead of testing it here first: on maps bigger than the caches that test is
 * a miss per checkpoint per page, each waited for before the next is asked.
 */
export function storedSlice(table: usize, page: u32, g: u32): u32 {
  let entry = pageEntry(table, page >> g);
  if (entry <= ONES_PAGE) return entry;
  return <u32>metaSlice(entry, page, g);
}

/** gatherMeta, with the meta slices tested (`test`: metaEntry) or listed as stored (storedSlice). */
// @ts-ignore: decorator
@inline function gatherMetaAt(tables: usize, metas: usize, count: u32, g: u32, page: u32, acc: usize, test: bool): u32 {
  let state = ACC_LISTED;
  for (let i: u32 = 0; i < count; i++) {
    let bits = pageEntry(tableAt(tables, i), page);
    if (bits == ONES_PAGE) return ACC_ONES;
    let meta = test ? metaEntry(tableAt(metas, i), page, g) : storedSlice(tableAt(metas, i), page, g);
    if (meta == ZERO_PAGE) return ACC_ONES;
    if (meta == ONES_PAGE) {
      if (bits != ZERO_PAGE) state = addEntry(acc, state, bits, 0, <i32>g);
    } else {
      state = addEntry(acc, state, bits, meta, <i32>g);
    }
  }
  return endList(state);
}

/**
 * Page `page` of OR over I of (bitmap_I | ~meta_I) (FIG. 40, steps 667-668): a block
 * counts as changed after checkpoint I when I saved it or did not have it in use.
 * Meta maps hold one bit per 2^g blocks. ZERO, ONES or LISTED. Meta slices that are
 * all zeros or all ones read as the sentinels (for scans: such pages cost nothing).
 */
export function gatherMeta(tables: usize, metas: usize, count: u32, g: u32, page: u32, acc: usize): u32 {
  return gatherMetaAt(tables, metas, count, g, page, acc, true);
}

/** gatherMeta for counts: slices listed as stored (storedSlice), read once when resolved. */
export function gatherMetaStored(tables: usize, metas: usize, count: u32, g: u32, page: u32, acc: usize): u32 {
  return gatherMetaAt(tables, metas, count, g, page, acc, false);
}

/**
 * The page in the accumulator (for extents): ZERO, ONES or MIXED. `mask` is the live
 * meta entry (a slice, or a sentinel; ONES_PAGE for plain scans), g is -1 for plain.
 */
export function resolveToAcc(state: u32, acc: usize, mask: u32, g: i32): u32 {
  if (state == ACC_ZERO || mask == ZERO_PAGE) return ACC_ZERO;
  if (state == ACC_ONES) {
    if (mask == ONES_PAGE) return ACC_ONES;
    expandInto(<usize>mask, acc, PAGE_BYTES, <u32>g);
    return ACC_MIXED;
  }
  resolvePass(acc, listLength(state), isPartial(state), mask == ONES_PAGE ? 0 : <usize>mask, g, true);
  return ACC_MIXED;
}

/** The set bits of the whole page, without writing it anywhere when it can. */
export function resolveCount(state: u32, acc: usize, mask: u32, g: i32): u32 {
  if (state == ACC_ZERO || mask == ZERO_PAGE) return 0;
  if (state == ACC_ONES) {
    if (mask == ONES_PAGE) return PAGE_BLOCKS;
    return countBytes(<usize>mask, <usize>(PAGE_BYTES >> <u32>g)) << g;
  }
  return resolvePass(acc, listLength(state), isPartial(state), mask == ONES_PAGE ? 0 : <usize>mask, g, false);
}

/**
 * The set bits of blocks [first, end) of the page (bit numbers within it) straight
 * from the lists when every listed bit map page is sparse and short
 * (lib/sparse-lists.ts); -1 when the page needs the accumulator pass. `mask` as in
 * resolveCount. With meta slices listed, X = live & OR ~meta is counted at meta
 * level (its blocks: popcount << g) and B's bits only outside it, so nothing is
 * expanded; that takes a whole page.
 */
export function countFromLists(state: u32, acc: usize, mask: u32, g: i32, first: u32, end: u32): i32 {
  if (!isListed(state) || isPartial(state) || mask == ZERO_PAGE) return -1;
  let n = listLength(state);
  let list = listAt(acc);
  let flat = flatAt(acc);
  let listed = flattenLists(list, n, flat, SPARSE_COUNT_LIMIT);
  if (listed < 0) return -1;
  let live: usize = mask == ONES_PAGE ? 0 : <usize>mask;
  let ones: u32 = 0;
  let x: usize = 0;
  if (g >= 0 && metaListed(list, n)) {
    if (end - first != PAGE_BLOCKS) return -1;
    ones = <u32>unusedPass(acc, n, live, g, true);
    x = unusedAt(acc);
  }
  return <i32>((ones << <u32>g) + markSparse(acc, flat, <u32>listed, first, end, live, x, g, 0));
}

/**
 * Where a scan from the lists finds its summary of marked words: the second half of
 * the third scratch page, past X (PAGE_BYTES >> g bytes from unusedAt, g >= 1).
 */
// @ts-ignore: decorator
@inline export function summaryAt(acc: usize): usize {
  return unusedAt(acc) + (PAGE_BYTES >> 1);
}

/** Where a page from the lists gathers their bit numbers (flattenLists): 2 * SPARSE_SCAN_LIMIT + 16 bytes. */
// @ts-ignore: decorator
@inline function flatAt(acc: usize): usize {
  return acc + FLAT_AT;
}

/** Granules of X a scan from the lists marks at most (markUnused); more go to the accumulator. */
// @ts-ignore: decorator
@inline const UNUSED_SCAN_LIMIT: u32 = 64;

/**
 * For a scan: marks blocks [first, end) of the page in the accumulator from the lists,
 * with the summary at summaryAt(acc), when every listed bit map page is sparse and
 * short; else false, and the page takes resolveToAcc. With meta slices listed, X =
 * live & OR ~meta is found at meta level and its granules marked whole
 * (markUnused) when it has few; that takes a whole page, and g >= 1 (at g = 0 X
 * fills the scratch page the summary shares).
 */
export function markFromLists(state: u32, acc: usize, mask: u32, g: i32, first: u32, end: u32): bool {
  if (!isListed(state) || isPartial(state) || mask == ZERO_PAGE) return false;
  let n = listLength(state);
  let list = listAt(acc);
  let flat = flatAt(acc);
  let listed = flattenLists(list, n, flat, SPARSE_SCAN_LIMIT);
  if (listed < 0) return false;
  let live: usize = mask == ONES_PAGE ? 0 : <usize>mask;
  let x: usize = 0;
  if (g >= 0 && metaListed(list, n)) {
    // Decided before X is found, so these pages pay for it once, in resolveToAcc.
    if (g == 0 || end - first != PAGE_BLOCKS) return false;
    let granules = <u32>unusedPass(acc, n, live, g, true);
    x = unusedAt(acc);
    if (granules > UNUSED_SCAN_LIMIT || <u32>listed + granules > SPARSE_SCAN_LIMIT) return false;
  }
  markSparse(acc, flat, <u32>listed, first, end, live, x, g, summaryAt(acc));
  if (x != 0) markUnused(acc, x, <u32>g, summaryAt(acc));
  return true;
}
