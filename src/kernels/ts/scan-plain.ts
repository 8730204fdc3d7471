// scanPlain, the pure-TypeScript twin of assembly/scan-plain.ts (same contract).

import { beginExtents, finishScan, stopScan } from './lib/extents.js';
import { type Heap, PAGE_BLOCKS, PAGE_SHIFT } from './lib/layout.js';
import { runsPlainPage } from './lib/sparse-or-dense.js';

export function scanPlain(
  heap: Heap, tables: number, count: number, from: number, to: number,
  out: number, capacity: number, cursor: number, acc: number,
): number {
  const extents = beginExtents(heap, out, capacity);
  for (let lo = from; lo < to;) {
    const page = lo >>> PAGE_SHIFT;
    const pageStart = page * PAGE_BLOCKS;
    const hi = Math.min(to, pageStart + PAGE_BLOCKS);
    if (!runsPlainPage(extents, heap, tables, count, page, acc, pageStart, lo, hi)) {
      return stopScan(extents, cursor, to);
    }
    lo = hi;
  }
  return finishScan(extents, cursor, to);
}
