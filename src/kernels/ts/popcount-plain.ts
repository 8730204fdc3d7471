// popcountPlain, the pure-TypeScript twin of assembly/popcount-plain.ts (same contract).

import { type Heap, PAGE_BLOCKS, PAGE_SHIFT } from './lib/layout.js';
import { countPlainPage } from './lib/sparse-or-dense.js';

export function popcountPlain(heap: Heap, tables: number, count: number, from: number, to: number, acc: number): number {
  let total = 0;
  for (let lo = from; lo < to;) {
    const page = lo >>> PAGE_SHIFT;
    const pageStart = page * PAGE_BLOCKS;
    const hi = Math.min(to, pageStart + PAGE_BLOCKS);
    total += countPlainPage(heap, tables, count, page, acc, pageStart, lo, hi);
    lo = hi;
  }
  return total;
}
