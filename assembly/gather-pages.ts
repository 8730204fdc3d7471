// gatherPages: copies pages [first, first + pages) of a page-table bit map into one
// flat run of bytes, writing sentinel pages as zeros or ones (for export, for
// handing a bit map to code that wants it flat, for checks).
//
// In:  table  a page-table offset
//      first  the first entry to copy; pages, how many
//      dst    pages * 4096 bytes, 4-byte aligned; must not overlap a stored page
// Out: the number of stored pages read (sentinels are written, never read).

import { ONES_PAGE, PAGE_BYTES, ZERO_PAGE, pageEntry } from "./lib/layout";

export function gatherPages(table: usize, first: u32, pages: u32, dst: usize): u32 {
  let stored: u32 = 0;
  for (let p: u32 = 0; p < pages; p++) {
    let entry = pageEntry(table, first + p);
    let to = dst + <usize>p * PAGE_BYTES;
    if (entry == ZERO_PAGE) memory.fill(to, 0, PAGE_BYTES);
    else if (entry == ONES_PAGE) memory.fill(to, 0xFF, PAGE_BYTES);
    else {
      memory.copy(to, <usize>entry, PAGE_BYTES);
      stored++;
    }
  }
  return stored;
}
