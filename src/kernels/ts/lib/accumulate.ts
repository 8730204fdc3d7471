// Building one page of the delta (FIG. 34/35, 39/40) in an accumulator page, as
// assembly/lib/accumulate.ts does, one 32-bit word at a time.

import { expandWord } from './expand-chunk.js';
import {
  ACC_MIXED, ACC_ONES, ACC_ZERO, type Heap, ONES_PAGE, PAGE_BYTES, SPARSE_TAG, ZERO_PAGE, isSparse, pageEntry, tableAt,
} from './layout.js';

const PAGE_WORDS = PAGE_BYTES >>> 2;

/** acc = (first ? 0 : acc) | a | b | c | d, over one page. */
function orPages(heap: Heap, acc: number, a: number, b: number, c: number, d: number, first: boolean): void {
  const u32 = heap.u32;
  const o = acc >>> 2, ia = a >>> 2, ib = b >>> 2, ic = c >>> 2, id = d >>> 2;
  if (first) {
    for (let i = 0; i < PAGE_WORDS; i++) u32[o + i] = u32[ia + i]! | u32[ib + i]! | u32[ic + i]! | u32[id + i]!;
  } else {
    for (let i = 0; i < PAGE_WORDS; i++) u32[o + i] = u32[o + i]! | u32[ia + i]! | u32[ib + i]! | u32[ic + i]! | u32[id + i]!;
  }
}

/**
 * One page of the delta being built in the accumulator `acc`: what it holds so far
 * (ACC_ZERO until something is ORed in, then ACC_MIXED), and the stored pages waiting
 * to be ORed into it, four at a time. Each accumulate call makes its own.
 */
class PageBuild {
  readonly heap: Heap;
  readonly acc: number;
  state = ACC_ZERO;
  pending = 0;
  pendingA = 0;
  pendingB = 0;
  pendingC = 0;

  constructor(heap: Heap, acc: number) {
    this.heap = heap;
    this.acc = acc;
  }
}

/** Queues a stored page; every fourth one ORs the group into the accumulator. */
function addPage(build: PageBuild, page: number): void {
  if (build.pending === 0) build.pendingA = page;
  else if (build.pending === 1) build.pendingB = page;
  else if (build.pending === 2) build.pendingC = page;
  else {
    orPages(build.heap, build.acc, build.pendingA, build.pendingB, build.pendingC, page, build.state === ACC_ZERO);
    build.state = ACC_MIXED;
    build.pending = 0;
    return;
  }
  build.pending++;
}

/** ORs what is still queued (a missing page of the group repeats the last); returns the page's state. */
function flushPages(build: PageBuild): number {
  if (build.pending === 0) return build.state;
  if (build.pending === 1) build.pendingB = build.pendingA;
  if (build.pending <= 2) build.pendingC = build.pendingB;
  const first = build.state === ACC_ZERO;
  orPages(build.heap, build.acc, build.pendingA, build.pendingB, build.pendingC, build.pendingC, first);
  build.pending = 0;
  build.state = ACC_MIXED;
  return build.state;
}

/** ORs the bits of a sparse page into the accumulator. */
function orSparse(heap: Heap, acc: number, entry: number): void {
  const sparse = entry - SPARSE_TAG;
  const u8 = heap.u8;
  const u32 = heap.u32;
  const n = u8[sparse]! | (u8[sparse + 1]! << 8);
  for (let at = sparse + 2, end = at + 2 * n; at < end; at += 2) {
    const bit = u8[at]! | (u8[at + 1]! << 8);
    u32[(acc >>> 2) + (bit >>> 5)]! |= 1 << (bit & 31);
  }
}

/** Adds a sparse page: the queued pages go in first, so the accumulator holds the page so far. */
function addSparse(build: PageBuild, entry: number): void {
  flushPages(build);
  if (build.state === ACC_ZERO) {
    build.heap.u32.fill(0, build.acc >>> 2, (build.acc >>> 2) + PAGE_WORDS);
    build.state = ACC_MIXED;
  }
  orSparse(build.heap, build.acc, entry);
}

/** Page `page` of OR over the bit maps whose page tables are listed at `tables`. */
export function accumulatePlain(heap: Heap, tables: number, count: number, page: number, acc: number): number {
  const build = new PageBuild(heap, acc);
  for (let i = 0; i < count; i++) {
    const entry = pageEntry(heap, tableAt(heap, tables, i), page);
    if (entry === ZERO_PAGE) continue;
    if (entry === ONES_PAGE) return ACC_ONES;
    if (isSparse(entry)) addSparse(build, entry);
    else addPage(build, entry);
  }
  return flushPages(build);
}

/** acc = (first ? 0 : acc) | bits | ~expand(meta), over one page; bits may be 0 (none). */
function orBitsAndUnused(heap: Heap, acc: number, bits: number, meta: number, g: number, first: boolean): void {
  const u32 = heap.u32;
  const o = acc >>> 2, ib = bits >>> 2;
  for (let w = 0; w < PAGE_WORDS; w++) {
    let x = ~expandWord(heap, meta, w, g);
    if (bits !== 0) x |= u32[ib + w]!;
    u32[o + w] = first ? x : u32[o + w]! | x;
  }
}

/** acc &= expand(meta), over one page. */
function andInUse(heap: Heap, acc: number, meta: number, g: number): void {
  const o = acc >>> 2;
  for (let w = 0; w < PAGE_WORDS; w++) heap.u32[o + w] = heap.u32[o + w]! & expandWord(heap, meta, w, g);
}

/** acc = expand(meta), over one page. */
function copyInUse(heap: Heap, acc: number, meta: number, g: number): void {
  const o = acc >>> 2;
  for (let w = 0; w < PAGE_WORDS; w++) heap.u32[o + w] = expandWord(heap, meta, w, g);
}

/** Where the meta bits of block page `page` start: a slice of PAGE_BYTES >> g bytes. */
function metaSlice(entry: number, page: number, g: number): number {
  return entry + (page & ((1 << g) - 1)) * (PAGE_BYTES >>> g);
}

/** A meta slice that is all zeros or all ones reads as the sentinel (skips the expansion). */
function sliceEntry(heap: Heap, slice: number, bytes: number): number {
  let any = 0;
  let all = -1;
  const u32 = heap.u32;
  for (let i = slice >>> 2, end = i + (bytes >>> 2); i < end; i++) {
    any |= u32[i]!;
    all &= u32[i]!;
  }
  if (any === 0) return ZERO_PAGE;
  if (all === -1) return ONES_PAGE;
  return slice;
}

/** The meta bits of block page `page`, as a slice offset or a sentinel. */
export function metaEntry(heap: Heap, table: number, page: number, g: number): number {
  const entry = pageEntry(heap, table, page >>> g);
  if (entry <= ONES_PAGE) return entry;
  return sliceEntry(heap, metaSlice(entry, page, g), PAGE_BYTES >>> g);
}

/** Page `page` of OR over I of (bitmap_I | ~meta_I) (FIG. 40, steps 667-668). */
export function accumulateMeta(
  heap: Heap, tables: number, metas: number, count: number, g: number, page: number, acc: number,
): number {
  const build = new PageBuild(heap, acc);
  for (let i = 0; i < count; i++) {
    const bits = pageEntry(heap, tableAt(heap, tables, i), page);
    const meta = metaEntry(heap, tableAt(heap, metas, i), page, g);
    if (bits === ONES_PAGE || meta === ZERO_PAGE) return ACC_ONES;
    addMetaEntry(build, bits, meta, g);
  }
  return flushPages(build);
}

/** ORs bits | ~expand(meta) of one checkpoint into the page (meta ONES_PAGE: all in use). */
function addMetaEntry(build: PageBuild, bits: number, meta: number, g: number): void {
  const sparse = isSparse(bits);
  if (meta === ONES_PAGE) {
    if (sparse) addSparse(build, bits);
    else if (bits !== ZERO_PAGE) addPage(build, bits);
  } else {
    const { heap, acc } = build;
    orBitsAndUnused(heap, acc, bits === ZERO_PAGE || sparse ? 0 : bits, meta, g, build.state === ACC_ZERO);
    build.state = ACC_MIXED;
    if (sparse) orSparse(heap, acc, bits);
  }
}

/**
 * accumulateMeta from the (bits, meta) pairs lib/sparse-lists.ts listed at `list`
 * (meta 0: all in use), for a page the lists could not finish on their own.
 */
export function accumulateListed(heap: Heap, list: number, n: number, g: number, acc: number): number {
  const build = new PageBuild(heap, acc);
  const u32 = heap.u32;
  for (let i = 0; i < n; i++) {
    const meta = u32[(list >>> 2) + 2 * i + 1]!;
    addMetaEntry(build, u32[(list >>> 2) + 2 * i]!, meta === 0 ? ONES_PAGE : meta, g);
  }
  return flushPages(build);
}

/**
 * Keeps only the blocks in use in the younger image (metaM in FIG. 40): `slice` is
 * the live meta map's slice for the page (metaEntry), or a sentinel.
 */
export function maskWithSlice(heap: Heap, state: number, slice: number, g: number, acc: number): number {
  if (state === ACC_ZERO) return state;
  if (slice === ZERO_PAGE) return ACC_ZERO;
  if (slice === ONES_PAGE) return state;
  if (state === ACC_ONES) copyInUse(heap, acc, slice, g);
  else andInUse(heap, acc, slice, g);
  return ACC_MIXED;
}
