// popcountPlain: how many blocks scanPlain would report, without writing extents.
//
// In:  tables, count, from, to, acc   as in scanPlain
// Out: the number of blocks b in [from, to) set in any of the bit maps.

import { accumulatePlain } from "./lib/accumulate";
import { countInPage } from "./lib/count";
import { PAGE_BLOCKS, PAGE_SHIFT } from "./lib/layout";

export function popcountPlain(tables: usize, count: u32, from: u32, to: u32, acc: usize): u32 {
  let total: u32 = 0;
  for (let lo = from; lo < to; ) {
    let page = lo >> PAGE_SHIFT;
    let pageStart = page << PAGE_SHIFT;
    let hi = min(to, pageStart + PAGE_BLOCKS);
    total += countInPage(accumulatePlain(tables, count, page, acc), acc, pageStart, lo, hi);
    lo = hi;
  }
  return total;
}
