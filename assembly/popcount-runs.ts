// popcountRuns: the set bits of pages several maps store, counted from the runs each
// map keeps of its page (src/arena/kept-runs.ts), not from the pages: a clustered page
// of ~30 runs is 120 bytes of runs against 4 KiB of bits.
//
// In:  list     u32 words, 4-byte aligned: per page, size (its blocks: PAGE_BLOCKS, or
//               fewer for a last page cut short), k >= 1, then k u32 arena offsets of run
//               lists (2-byte aligned: a u16 count n, then n ascending, apart, non-empty
//               [first, end) u16 pairs within [0, size))
//      pages    pages in the list
//      scratch  RUNS_SCRATCH_BYTES (src/kernels/api.ts): two gap lists of GAP_LIST_BYTES
//               (lib/run-gaps.ts), then a page of marks (PAGE_BYTES); 8-byte aligned
// Out: the set bits of the OR of each page's run lists, summed over the pages.
// A page of a few short runs is counted by marking them (lib/run-marks.ts); any other
// through what its union leaves out (lib/run-gaps.ts): the first list's gaps less each
// further list's runs, until none is left or the lists end.

import { PAGE_BYTES } from "./lib/layout";
import { GAP_LIST_BYTES, gapBlocks, gapsOf, subtractRuns } from "./lib/run-gaps";
import { fewMarkWords, markedUnion } from "./lib/run-marks";

export function popcountRuns(list: usize, pages: u32, scratch: usize): u32 {
  let total: u32 = 0;
  let at = list;
  let mark = scratch + 2 * GAP_LIST_BYTES;
  // Zeroed when first marked in this call: a call over a few pages of long runs (a small
  // delta) does not pay for it.
  let marksZero = false;
  for (let p: u32 = 0; p < pages; p++) {
    let size = load<u32>(at);
    let k = load<u32>(at, 4);
    let lists = at + 8;
    at = lists + (<usize>k << 2);
    if (fewMarkWords(lists, k)) {
      if (!marksZero) {
        memory.fill(mark, 0, PAGE_BYTES);
        marksZero = true;
      }
      total += markedUnion(lists, k, mark);
      continue;
    }
    let gaps = scratch;
    let spare = scratch + GAP_LIST_BYTES;
    let n = gapsOf(<usize>load<u32>(lists), size, gaps);
    for (let i: u32 = 1; i < k && n != 0; i++) {
      n = subtractRuns(gaps, n, <usize>load<u32>(lists + (<usize>i << 2)), spare);
      let written = spare;
      spare = gaps;
      gaps = written;
    }
    total += size - gapBlocks(gaps, n);
  }
  return total;
}
