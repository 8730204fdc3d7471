// scanPlain: the delta scan of FIG. 34/35 over page-table bit maps.
//
// changed(b) = OR over the `count` bit maps listed at `tables` of bit b, for b in
// [from, to). Runs of changed blocks are written to `out` as (start, length) u32
// pairs in ascending order, at most `capacity` of them.
//
// In:  tables   `count` u32 page-table offsets (checkpoints L..M-1), 4-byte aligned
//      from, to block range, any alignment; from <= to <= 2^31
//      out      8 * capacity bytes, 4-byte aligned; the slots past the extents written hold
//               nothing meaningful after the call (the emitter writes four slots at a time)
//      cursor   4 bytes, 4-byte aligned: receives where the scan stopped (`to` when done, else the
//               start of the first extent not written; call again from there)
//      acc      ACC_BYTES of scratch (three 4 KiB pages, the extent emitter's state, a page's
//               sparse bit numbers: src/kernels/api.ts), 16-byte aligned
// Out: the number of extents written.
// Cost follows the stored pages: pages that are zero in every map are skipped four
// page-table entries at a time.

import { gatherPlain } from "./lib/accumulate";
import { beginExtents, closeRun, finishScan, stopScan } from "./lib/extents";
import { ONES_PAGE, PAGE_BLOCKS, PAGE_SHIFT } from "./lib/layout";
import { runsOfPage } from "./lib/sparse-or-dense";
import { zeroPages } from "./lib/skip";

export function scanPlain(
  tables: usize, count: u32, from: u32, to: u32,
  out: usize, capacity: u32, cursor: usize, acc: usize,
): u32 {
  let e = beginExtents(acc, out, capacity);
  let limit = to >> PAGE_SHIFT;
  for (let lo = from; lo < to; ) {
    let page = lo >> PAGE_SHIFT;
    let pageStart = page << PAGE_SHIFT;
    if ((page & 3) == 0 && lo == pageStart) {
      let skip = zeroPages(tables, count, page, limit);
      if (skip != 0) {
        if (!closeRun(e, lo)) return stopScan(e, cursor, to);
        lo = (page + skip) << PAGE_SHIFT;
        continue;
      }
    }
    let hi = min(to, pageStart + PAGE_BLOCKS);
    let state = gatherPlain(tables, count, page, acc);
    if (!runsOfPage(e, state, acc, ONES_PAGE, -1, pageStart, lo, hi)) return stopScan(e, cursor, to);
    lo = hi;
  }
  return finishScan(e, cursor, to);
}
