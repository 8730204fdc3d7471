// orMerge: dst |= src over two page-table bit maps of `pages` entries each, for
// deleting a checkpoint (its bit map merges into its older neighbour's).
//
// Per entry: a zero src page changes nothing, nor does anything change a full dst
// page; a full src page makes the dst entry ONES; a stored src page is adopted by
// a zero dst entry (the dst table then names the src page: src is consumed), else
// ORed into the dst page, and a dst page that becomes full is replaced by ONES.
// The caller frees what is no longer named: src pages not adopted, dst pages replaced.
//
// In:  dst, src  page-table offsets; pages are 4 KiB, 16-byte aligned
//      pages     entries in each table
// Out: how many dst entries now name something else.

import { ONES_PAGE, PAGE_BYTES, ZERO_PAGE, pageEntry } from "./lib/layout";

/** ORs one stored page into another; true when the result is all ones. */
function orPageInto(dst: usize, src: usize): bool {
  let all = v128.not(i8x16.splat(0));
  for (let i: usize = 0; i < PAGE_BYTES; i += 16) {
    let x = v128.or(v128.load(dst + i), v128.load(src + i));
    v128.store(dst + i, x);
    all = v128.and(all, x);
  }
  return !v128.any_true(v128.not(all));
}

export function orMerge(dst: usize, src: usize, pages: u32): u32 {
  let changed: u32 = 0;
  for (let p: u32 = 0; p < pages; p++) {
    let from = pageEntry(src, p);
    let into = pageEntry(dst, p);
    if (from == ZERO_PAGE || into == ONES_PAGE) continue;
    let entry = from;
    if (from != ONES_PAGE && into != ZERO_PAGE) {
      if (!orPageInto(<usize>into, <usize>from)) continue;
      entry = ONES_PAGE;
    }
    store<u32>(dst + (<usize>p << 2), entry);
    changed++;
  }
  return changed;
}
