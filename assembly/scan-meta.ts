// scanMeta: the delta scan with meta bit maps of FIG. 39/40 over page-table bit maps.
//
// changed(b) = metaM(b) AND OR over I of (bitmap_I(b) OR NOT meta_I(b)), for b in
// [from, to): blocks in use in the younger image M that a checkpoint I in L..M-1
// saved, or did not have in use. Meta maps hold one bit per 2^g blocks (FIG. 45/46;
// block b is meta bit b >> g). Output and resumption as in scanPlain.
//
// In:  tables   `count` u32 page-table offsets of the bit maps of L..M-1
//      metas    `count` u32 page-table offsets of their meta maps, granularity g (4-byte aligned)
//      live     the page-table offset of M's meta map, granularity g
//      g        0..6
//      from, to block range, any alignment; from <= to <= 2^31
//      out, capacity, cursor, acc   as in scanPlain
// Out: the number of extents written.

import { gatherMetaStored, metaEntry, storedSlice } from "./lib/accumulate";
import { beginExtents, finishScan, stopScan } from "./lib/extents";
import { ACC_ZERO, PAGE_BLOCKS, PAGE_SHIFT, ZERO_PAGE } from "./lib/layout";
import { runsOfPage } from "./lib/sparse-or-dense";

export function scanMeta(
  tables: usize, metas: usize, count: u32, live: usize, g: u32, from: u32, to: u32,
  out: usize, capacity: u32, cursor: usize, acc: usize,
): u32 {
  let e = beginExtents(acc, out, capacity);
  for (let lo = from; lo < to; ) {
    let page = lo >> PAGE_SHIFT;
    let pageStart = page << PAGE_SHIFT;
    let hi = min(to, pageStart + PAGE_BLOCKS);
    // As popcountMeta: the checkpoints' meta slices are listed as stored and read once, in
    // the pass, not tested for all ones or zeros first (a miss per map per page, each
    // waited for); live's slice is tested at g > 0 only, where it is part of a meta page.
    let mask = g == 0 ? storedSlice(live, page, 0) : metaEntry(live, page, g);
    let state = mask == ZERO_PAGE ? ACC_ZERO : gatherMetaStored(tables, metas, count, g, page, acc);
    if (!runsOfPage(e, state, acc, mask, <i32>g, pageStart, lo, hi)) return stopScan(e, cursor, to);
    lo = hi;
  }
  return finishScan(e, cursor, to);
}
