// One page of a scan or count, from the sparse lists when the page allows it
// (lib/sparse-lists.ts), else through the accumulator: the kernels' loops call these
// so the choice is made in one place for plain and meta-aware kernels.

import { countFromLists, markFromLists, resolveCount, resolveToAcc, summaryAt } from "./accumulate";
import { countInPage } from "./count";
import { Extents, runsInPage, runsInWords } from "./extents";
import { PAGE_BLOCKS } from "./layout";

/**
 * Emits the runs of blocks [lo, hi) of page state `state` (from gather*) starting at
 * `pageStart` to `e`; `mask` and g as in resolveToAcc. False when the output buffer filled.
 */
export function runsOfPage(e: Extents, state: u32, acc: usize, mask: u32, g: i32, pageStart: u32, lo: u32, hi: u32): bool {
  let first = lo - pageStart;
  let end = hi - pageStart;
  if (markFromLists(state, acc, mask, g, first, end)) return runsInWords(e, acc, summaryAt(acc), pageStart, first, end);
  return runsInPage(e, resolveToAcc(state, acc, mask, g), acc, pageStart, lo, hi);
}

/** The changed blocks in [lo, hi) of page state `state` starting at `pageStart`. */
export function countOfPage(state: u32, acc: usize, mask: u32, g: i32, pageStart: u32, lo: u32, hi: u32): u32 {
  let listed = countFromLists(state, acc, mask, g, lo - pageStart, hi - pageStart);
  if (listed >= 0) return <u32>listed;
  if (hi - lo == PAGE_BLOCKS) return resolveCount(state, acc, mask, g);
  return countInPage(resolveToAcc(state, acc, mask, g), acc, pageStart, lo, hi);
}
