// Skipping pages that are ZERO_PAGE in every bit map of a plain scan, four page-table
// entries (one v128) per map at a time: a sparse delta over a large volume then
// costs a pass over its page tables, not a gather per page.

import { ZERO_PAGE } from "./layout";

/**
 * How many pages from `page` (a multiple of 4) are zero in all `count` tables, in
 * whole groups of 4 that end at or before `limit` (a page number).
 */
export function zeroPages(tables: usize, count: u32, page: u32, limit: u32): u32 {
  let at = page;
  while (at + 4 <= limit) {
    let any = i32x4.splat(ZERO_PAGE);
    for (let i: u32 = 0; i < count; i++) {
      let table = <usize>load<u32>(tables + (<usize>i << 2));
      any = v128.or(any, v128.load(table + (<usize>at << 2)));
    }
    if (v128.any_true(any)) break;
    at += 4;
  }
  return at - page;
}
