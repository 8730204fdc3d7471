// gatherPages, the pure-TypeScript twin of assembly/gather-pages.ts (same contract).

import { type Heap, ONES_PAGE, PAGE_BYTES, ZERO_PAGE, pageEntry } from './lib/layout.js';

export function gatherPages(heap: Heap, table: number, first: number, pages: number, dst: number): number {
  let stored = 0;
  for (let p = 0; p < pages; p++) {
    const entry = pageEntry(heap, table, first + p);
    const to = dst + p * PAGE_BYTES;
    if (entry === ZERO_PAGE) heap.u8.fill(0, to, to + PAGE_BYTES);
    else if (entry === ONES_PAGE) heap.u8.fill(0xff, to, to + PAGE_BYTES);
    else {
      heap.u8.copyWithin(to, entry, entry + PAGE_BYTES);
      stored++;
    }
  }
  return stored;
}
