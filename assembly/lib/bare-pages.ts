// Counting pages that no checkpoint has a bit map page for (FIG. 40 with every bits_I
// zero): changed = live & ~(AND of the checkpoints' meta slices), on the meta bits as
// stored. At g >= 1 consecutive pages' slices lie side by side in a meta page (2^g pages
// to it), so a run of such pages is counted as one stretch of up to 4 KiB a map, and the
// page-table lookups, the list and the calls of a page are paid once for the run. Most
// pages of a small delta on a volume with meta maps are such pages.

import { GROUP, listAt, metaSlice, unusedAt, unusedPassOver } from "./accumulate";
import { countBytes } from "./count";
import { ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, ZERO_PAGE, pageEntry, tableAt } from "./layout";

/** Checkpoints up to which a stretch runs to the end of the meta page; with more, it is one page. */
// @ts-ignore: decorator
@inline const STRETCH_MAPS: u32 = 4;

/**
 * How many whole pages from `page` on, before page `endPage`, no checkpoint's bit map
 * has stored (every entry ZERO_PAGE), as one stretch: up to the end of the meta page
 * with STRETCH_MAPS checkpoints or fewer, else `page` alone (the slices of more fold
 * into the scratch page a group at a time: at 256M x K = 16, read from RAM, stretches
 * took 1.06 x the time of the kernels before them where a page at a time gained 1.05 x;
 * at K = 4 stretches gained 1.35-1.43 x, a page at a time 1.19 x). 0 when `page` itself
 * has one, or when there are more checkpoints than a list holds.
 */
export function barePages(tables: usize, count: u32, page: u32, g: u32, endPage: u32): u32 {
  if (count > GROUP) return 0;
  let last = min(endPage, count <= STRETCH_MAPS ? ((page >> g) + 1) << g : page + 1);
  for (let p = page; p < last; p++) {
    for (let i: u32 = 0; i < count; i++) {
      if (pageEntry(tableAt(tables, i), p) != ZERO_PAGE) return p - page;
    }
  }
  return last > page ? last - page : 0;
}

/** Blocks in use in live over `bytes` of its slice `mask` (0: all in use) covering `pages` pages. */
// @ts-ignore: decorator
@inline function liveBlocks(mask: usize, bytes: usize, g: u32, pages: u32): u32 {
  return mask == 0 ? pages * PAGE_BLOCKS : countBytes(mask, bytes) << g;
}

/**
 * The changed blocks of the `pages` whole pages from `page` on, which barePages found
 * without bit map pages: live & ~(AND over the checkpoints of meta). A checkpoint whose
 * meta page is all ones drops out; one whose meta page is all zeros makes every block
 * in use in live count.
 */
export function countBarePages(metas: usize, count: u32, live: usize, g: u32, page: u32, pages: u32, acc: usize): u32 {
  let bytes = <usize>((pages * PAGE_BYTES) >> g);
  let liveEntry = pageEntry(live, page >> g);
  if (liveEntry == ZERO_PAGE) return 0;
  let mask: usize = liveEntry == ONES_PAGE ? 0 : metaSlice(liveEntry, page, g);
  let list = listAt(acc);
  let n: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    let entry = pageEntry(tableAt(metas, i), page >> g);
    if (entry == ONES_PAGE) continue;
    if (entry == ZERO_PAGE) return liveBlocks(mask, bytes, g, pages);
    let at = list + (<usize>n << 3);
    store<u32>(at, 0);
    store<u32>(at, <u32>metaSlice(entry, page, g), 4);
    n++;
  }
  if (n == 0) return 0;
  return <u32>unusedPassOver(list, n, unusedAt(acc), mask, bytes, false, true) << g;
}
