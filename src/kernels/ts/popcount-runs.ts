// popcountRuns, the pure-TypeScript twin of assembly/popcount-runs.ts (same contract).

import { type Heap, PAGE_BYTES } from './lib/layout.js';
import { GAP_LIST_BYTES, gapBlocks, gapsOf, subtractRuns } from './lib/run-gaps.js';
import { fewMarkWords, markedUnion } from './lib/run-marks.js';

export function popcountRuns(heap: Heap, list: number, pages: number, scratch: number): number {
  const { u8, u32 } = heap;
  let total = 0;
  let at = list >>> 2;
  const mark = scratch + 2 * GAP_LIST_BYTES;
  let marksZero = false; // zeroed when first marked in this call (assembly/popcount-runs.ts)
  for (let p = 0; p < pages; p++) {
    const size = u32[at]!;
    const k = u32[at + 1]!;
    const lists = at + 2;
    at = lists + k;
    if (fewMarkWords(u8, u32, lists, k)) {
      if (!marksZero) {
        u8.fill(0, mark, mark + PAGE_BYTES);
        marksZero = true;
      }
      total += markedUnion(u8, u32, lists, k, mark);
      continue;
    }
    let gaps = scratch >>> 2;
    let spare = (scratch + GAP_LIST_BYTES) >>> 2;
    let n = gapsOf(u8, u32, u32[lists]!, size, gaps);
    for (let i = 1; i < k && n !== 0; i++) {
      n = subtractRuns(u8, u32, gaps, n, u32[lists + i]!, spare);
      const written = spare;
      spare = gaps;
      gaps = written;
    }
    total += size - gapBlocks(u32, gaps, n);
  }
  return total;
}
