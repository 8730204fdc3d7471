// scanPlain: the delta scan of FIG. 34/35 over page-table bit maps.
//
// changed(b) = OR over the `count` bit maps listed at `tables` of bit b, for b in
// [from, to). Runs of changed blocks are written to `out` as (start, length) u32
// pairs in ascending order, at most `capacity` of them.
//
// In:  tables   `count` u32 page-table offsets (checkpoints L..M-1), 4-byte aligned
//      from, to block range, any alignment; from <= to <= 2^31
//      out      8 * capacity bytes, 4-byte aligned
//      cursor   4 bytes, 4-byte aligned: receives where the scan stopped (`to` when done, else the
//               start of the first extent not written; call again from there)
//      acc      one 4 KiB accumulator page, 16-byte aligned
// Out: the number of extents written.
// Cost follows the stored pages: a page that is zero in every map costs `count` loads.

import { accumulatePlain } from "./lib/accumulate";
import { beginExtents, finishScan, runsInPage, stopScan } from "./lib/extents";
import { PAGE_BLOCKS, PAGE_SHIFT } from "./lib/layout";

export function scanPlain(
  tables: usize, count: u32, from: u32, to: u32,
  out: usize, capacity: u32, cursor: usize, acc: usize,
): u32 {
  beginExtents(out, capacity);
  for (let lo = from; lo < to; ) {
    let page = lo >> PAGE_SHIFT;
    let pageStart = page << PAGE_SHIFT;
    let hi = min(to, pageStart + PAGE_BLOCKS);
    let state = accumulatePlain(tables, count, page, acc);
    if (!runsInPage(state, acc, pageStart, lo, hi)) return stopScan(cursor, to);
    lo = hi;
  }
  return finishScan(cursor, to);
}
