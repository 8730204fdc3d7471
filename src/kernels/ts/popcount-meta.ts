// popcountMeta, the pure-TypeScript twin of assembly/popcount-meta.ts (same contract).

import { accumulateMeta, maskInUse } from './lib/accumulate.js';
import { countInPage } from './lib/count.js';
import { type Heap, PAGE_BLOCKS, PAGE_SHIFT } from './lib/layout.js';

export function popcountMeta(
  heap: Heap, tables: number, metas: number, count: number, live: number, g: number,
  from: number, to: number, acc: number,
): number {
  let total = 0;
  for (let lo = from; lo < to;) {
    const page = lo >>> PAGE_SHIFT;
    const pageStart = page * PAGE_BLOCKS;
    const hi = Math.min(to, pageStart + PAGE_BLOCKS);
    const state = maskInUse(heap, accumulateMeta(heap, tables, metas, count, g, page, acc), live, g, page, acc);
    total += countInPage(heap, state, acc, pageStart, lo, hi);
    lo = hi;
  }
  return total;
}
