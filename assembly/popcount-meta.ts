// popcountMeta: how many blocks scanMeta would report (the exact size of a delta
// before any of it is read), without writing extents.
//
// In:  tables, metas, count, live, g, from, to, acc   as in scanMeta
// Out: the number of changed blocks in [from, to).

import { accumulateMeta, maskInUse } from "./lib/accumulate";
import { countInPage } from "./lib/count";
import { PAGE_BLOCKS, PAGE_SHIFT } from "./lib/layout";

export function popcountMeta(
  tables: usize, metas: usize, count: u32, live: usize, g: u32, from: u32, to: u32, acc: usize,
): u32 {
  let total: u32 = 0;
  for (let lo = from; lo < to; ) {
    let page = lo >> PAGE_SHIFT;
    let pageStart = page << PAGE_SHIFT;
    let hi = min(to, pageStart + PAGE_BLOCKS);
    let state = maskInUse(accumulateMeta(tables, metas, count, g, page, acc), live, g, page, acc);
    total += countInPage(state, acc, pageStart, lo, hi);
    lo = hi;
  }
  return total;
}
