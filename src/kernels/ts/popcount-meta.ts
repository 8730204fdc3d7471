// popcountMeta, the pure-TypeScript twin of assembly/popcount-meta.ts (same contract).

import { type Heap, PAGE_BLOCKS, PAGE_SHIFT } from './lib/layout.js';
import { countMetaPage } from './lib/sparse-or-dense.js';

export function popcountMeta(
  heap: Heap, tables: number, metas: number, count: number, live: number, g: number,
  from: number, to: number, acc: number,
): number {
  let total = 0;
  for (let lo = from; lo < to;) {
    const page = lo >>> PAGE_SHIFT;
    const pageStart = page * PAGE_BLOCKS;
    const hi = Math.min(to, pageStart + PAGE_BLOCKS);
    total += countMetaPage(heap, tables, metas, count, live, g, page, acc, pageStart, lo, hi);
    lo = hi;
  }
  return total;
}
