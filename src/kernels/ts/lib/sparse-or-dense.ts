// One page of a scan or count, from the sparse lists when the page allows it
// (lib/sparse-lists.ts), else through the accumulator, as assembly/lib/sparse-or-dense.ts.

import { accumulateListed, accumulateMeta, accumulatePlain, maskWithSlice, metaEntry } from './accumulate.js';
import { countInPage } from './count.js';
import { type Extents, runsInPage, runsInWords } from './extents.js';
import { ACC_ZERO, type Heap, ONES_PAGE, ZERO_PAGE } from './layout.js';
import {
  SPARSE_COUNT_LIMIT, SPARSE_SCAN_LIMIT, countFromLists, listAt, listMeta, listPlain, markFromLists, scratchAt,
} from './sparse-lists.js';

/** The blocks in [lo, hi) of page `page` (starting at block pageStart) set in any of the bit maps. */
export function countPlainPage(
  heap: Heap, tables: number, count: number, page: number, acc: number, pageStart: number, lo: number, hi: number,
): number {
  const n = listPlain(heap, tables, count, page, acc, SPARSE_COUNT_LIMIT);
  if (n >= 0) return countFromLists(heap, acc, n, 0, -1, lo - pageStart, hi - pageStart);
  return countInPage(heap, accumulatePlain(heap, tables, count, page, acc), acc, pageStart, lo, hi);
}

/** Emits the runs of blocks [lo, hi) of page `page` of the plain delta; false when the buffer filled. */
export function runsPlainPage(
  extents: Extents, heap: Heap, tables: number, count: number, page: number, acc: number,
  pageStart: number, lo: number, hi: number,
): boolean {
  const n = listPlain(heap, tables, count, page, acc, SPARSE_SCAN_LIMIT);
  if (n >= 0 && markFromLists(heap, acc, n, 0, -1, lo - pageStart, hi - pageStart)) {
    return runsInWords(extents, acc, scratchAt(acc), pageStart, lo - pageStart, hi - pageStart);
  }
  return runsInPage(extents, accumulatePlain(heap, tables, count, page, acc), acc, pageStart, lo, hi);
}

/** The changed blocks in [lo, hi) of page `page` of the meta-aware delta (FIG. 40). */
export function countMetaPage(
  heap: Heap, tables: number, metas: number, count: number, live: number, g: number, page: number, acc: number,
  pageStart: number, lo: number, hi: number,
): number {
  const slice = metaEntry(heap, live, page, g);
  if (slice === ZERO_PAGE) return 0;
  const n = listMeta(heap, tables, metas, count, g, page, acc, SPARSE_COUNT_LIMIT);
  let state: number;
  if (n >= 0) {
    const listed = countFromLists(heap, acc, n, slice === ONES_PAGE ? 0 : slice, g, lo - pageStart, hi - pageStart);
    if (listed >= 0) return listed;
    state = accumulateListed(heap, listAt(acc), n, g, acc);
  } else {
    state = accumulateMeta(heap, tables, metas, count, g, page, acc);
  }
  return countInPage(heap, maskWithSlice(heap, state, slice, g, acc), acc, pageStart, lo, hi);
}

/** Emits the runs of blocks [lo, hi) of page `page` of the meta-aware delta; false when the buffer filled. */
export function runsMetaPage(
  extents: Extents, heap: Heap, tables: number, metas: number, count: number, live: number, g: number, page: number,
  acc: number, pageStart: number, lo: number, hi: number,
): boolean {
  const slice = metaEntry(heap, live, page, g);
  if (slice === ZERO_PAGE) return runsInPage(extents, ACC_ZERO, acc, pageStart, lo, hi);
  const n = listMeta(heap, tables, metas, count, g, page, acc, SPARSE_SCAN_LIMIT);
  let state: number;
  if (n >= 0) {
    if (markFromLists(heap, acc, n, slice === ONES_PAGE ? 0 : slice, g, lo - pageStart, hi - pageStart)) {
      return runsInWords(extents, acc, scratchAt(acc), pageStart, lo - pageStart, hi - pageStart);
    }
    state = accumulateListed(heap, listAt(acc), n, g, acc);
  } else {
    state = accumulateMeta(heap, tables, metas, count, g, page, acc);
  }
  return runsInPage(extents, maskWithSlice(heap, state, slice, g, acc), acc, pageStart, lo, hi);
}
