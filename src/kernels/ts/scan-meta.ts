// scanMeta, the pure-TypeScript twin of assembly/scan-meta.ts (same contract).

import { beginExtents, finishScan, stopScan } from './lib/extents.js';
import { type Heap, PAGE_BLOCKS, PAGE_SHIFT } from './lib/layout.js';
import { runsMetaPage } from './lib/sparse-or-dense.js';

export function scanMeta(
  heap: Heap, tables: number, metas: number, count: number, live: number, g: number,
  from: number, to: number, out: number, capacity: number, cursor: number, acc: number,
): number {
  const extents = beginExtents(heap, out, capacity);
  for (let lo = from; lo < to;) {
    const page = lo >>> PAGE_SHIFT;
    const pageStart = page * PAGE_BLOCKS;
    const hi = Math.min(to, pageStart + PAGE_BLOCKS);
    if (!runsMetaPage(extents, heap, tables, metas, count, live, g, page, acc, pageStart, lo, hi)) {
      return stopScan(extents, cursor, to);
    }
    lo = hi;
  }
  return finishScan(extents, cursor, to);
}
