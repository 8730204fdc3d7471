// popcountMeta: how many blocks scanMeta would report (the exact size of a delta
// before any of it is read), without writing extents.
//
// In:  tables, metas, count, live, g, from, to, acc   as in scanMeta
// Out: the number of changed blocks in [from, to).

import { gatherMetaStored, metaEntry, storedSlice } from "./lib/accumulate";
import { ACC_ZERO, PAGE_BLOCKS, PAGE_SHIFT, ZERO_PAGE } from "./lib/layout";
import { barePages, countBarePages } from "./lib/bare-pages";
import { countOfPage } from "./lib/sparse-or-dense";

export function popcountMeta(
  tables: usize, metas: usize, count: u32, live: usize, g: u32, from: u32, to: u32, acc: usize,
): u32 {
  let total: u32 = 0;
  let endPage = to >> PAGE_SHIFT;
  for (let lo = from; lo < to; ) {
    let page = lo >> PAGE_SHIFT;
    let pageStart = page << PAGE_SHIFT;
    // Whole pages no checkpoint has a bit map page for: counted from the meta slices
    // alone, as one stretch up to the end of their meta page (lib/bare-pages.ts).
    let bare = lo == pageStart ? barePages(tables, count, page, g, endPage) : 0;
    if (bare != 0) {
      total += countBarePages(metas, count, live, g, page, bare, acc);
      lo = (page + bare) << PAGE_SHIFT;
      continue;
    }
    let hi = min(to, pageStart + PAGE_BLOCKS);
    // Nothing in use in M: nothing changed here, whatever the checkpoints hold. At g > 0
    // live's slice is tested (a part of a meta page, so unused stretches cost no bit
    // map reads); at g = 0 it is a whole page, which PagedBitmap makes ZERO_PAGE when
    // cleared whole, so the table says it without the read (a miss a page, waited for).
    // The checkpoints' slices are listed as stored and read once, when counted.
    let mask = g == 0 ? storedSlice(live, page, 0) : metaEntry(live, page, g);
    let state = mask == ZERO_PAGE ? ACC_ZERO : gatherMetaStored(tables, metas, count, g, page, acc);
    total += countOfPage(state, acc, mask, <i32>g, pageStart, lo, hi);
    lo = hi;
  }
  return total;
}
