// orMerge, the pure-TypeScript twin of assembly/or-merge.ts (same contract).

import { type Heap, ONES_PAGE, PAGE_BYTES, ZERO_PAGE, pageEntry } from './lib/layout.js';

/** ORs one stored page into another; true when the result is all ones. */
function orPageInto(heap: Heap, dst: number, src: number): boolean {
  const u32 = heap.u32;
  const d = dst >>> 2, s = src >>> 2;
  let all = -1;
  for (let i = 0; i < PAGE_BYTES >>> 2; i++) {
    const x = u32[d + i]! | u32[s + i]!;
    u32[d + i] = x;
    all &= x;
  }
  return all === -1;
}

export function orMerge(heap: Heap, dst: number, src: number, pages: number): number {
  let changed = 0;
  for (let p = 0; p < pages; p++) {
    const from = pageEntry(heap, src, p);
    const into = pageEntry(heap, dst, p);
    if (from === ZERO_PAGE || into === ONES_PAGE) continue;
    let entry = from;
    if (from !== ONES_PAGE && into !== ZERO_PAGE) {
      if (!orPageInto(heap, into, from)) continue;
      entry = ONES_PAGE;
    }
    heap.u32[(dst >>> 2) + p] = entry;
    changed++;
  }
  return changed;
}
