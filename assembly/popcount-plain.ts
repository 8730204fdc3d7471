// popcountPlain: how many blocks scanPlain would report, without writing extents.
//
// In:  tables, count, from, to, acc   as in scanPlain
// Out: the number of blocks b in [from, to) set in any of the bit maps.

import { gatherPlain } from "./lib/accumulate";
import { ONES_PAGE, PAGE_BLOCKS, PAGE_SHIFT } from "./lib/layout";
import { countOfPage } from "./lib/sparse-or-dense";
import { zeroPages } from "./lib/skip";

export function popcountPlain(tables: usize, count: u32, from: u32, to: u32, acc: usize): u32 {
  let total: u32 = 0;
  let limit = to >> PAGE_SHIFT;
  for (let lo = from; lo < to; ) {
    let page = lo >> PAGE_SHIFT;
    let pageStart = page << PAGE_SHIFT;
    if ((page & 3) == 0 && lo == pageStart) {
      let skip = zeroPages(tables, count, page, limit);
      if (skip != 0) {
        lo = (page + skip) << PAGE_SHIFT;
        continue;
      }
    }
    let hi = min(to, pageStart + PAGE_BLOCKS);
    total += countOfPage(gatherPlain(tables, count, page, acc), acc, ONES_PAGE, -1, pageStart, lo, hi);
    lo = hi;
  }
  return total;
}
