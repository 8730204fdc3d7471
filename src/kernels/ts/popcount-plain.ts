// popcountPlain, the pure-TypeScript twin of assembly/popcount-plain.ts (same contract).

import { accumulatePlain } from './lib/accumulate.js';
import { countInPage } from './lib/count.js';
import { type Heap, PAGE_BLOCKS, PAGE_SHIFT } from './lib/layout.js';

export function popcountPlain(heap: Heap, tables: number, count: number, from: number, to: number, acc: number): number {
  let total = 0;
  for (let lo = from; lo < to;) {
    const page = lo >>> PAGE_SHIFT;
    const pageStart = page * PAGE_BLOCKS;
    const hi = Math.min(to, pageStart + PAGE_BLOCKS);
    total += countInPage(heap, accumulatePlain(heap, tables, count, page, acc), acc, pageStart, lo, hi);
    lo = hi;
  }
  return total;
}
