// Building one page of the delta (FIG. 34/35, 39/40) in an accumulator page:
// the inner loop over checkpoints runs over whole pages, 16 bytes at a time, and
// sentinel pages cost nothing. The result says ACC_ZERO / ACC_ONES without
// touching the accumulator, or ACC_MIXED with the page in it.

import { expandChunk, expandInto } from "./expand-chunk";
import { ACC_MIXED, ACC_ONES, ACC_ZERO, ONES_PAGE, PAGE_BYTES, ZERO_PAGE, pageEntry, tableAt } from "./layout";

/** acc = (first ? 0 : acc) | a | b | c | d, over one page, 32 bytes a step. */
function orPages(acc: usize, a: usize, b: usize, c: usize, d: usize, first: bool): void {
  if (first) {
    for (let i: usize = 0; i < PAGE_BYTES; i += 32) {
      let x = v128.or(v128.or(v128.load(a + i), v128.load(b + i)), v128.or(v128.load(c + i), v128.load(d + i)));
      let y = v128.or(v128.or(v128.load(a + i, 16), v128.load(b + i, 16)), v128.or(v128.load(c + i, 16), v128.load(d + i, 16)));
      v128.store(acc + i, x);
      v128.store(acc + i, y, 16);
    }
  } else {
    for (let i: usize = 0; i < PAGE_BYTES; i += 32) {
      let x = v128.or(v128.or(v128.load(a + i), v128.load(b + i)), v128.or(v128.load(c + i), v128.load(d + i)));
      let y = v128.or(v128.or(v128.load(a + i, 16), v128.load(b + i, 16)), v128.or(v128.load(c + i, 16), v128.load(d + i, 16)));
      v128.store(acc + i, v128.or(v128.load(acc + i), x));
      v128.store(acc + i, v128.or(v128.load(acc + i, 16), y), 16);
    }
  }
}

// Stored pages waiting to be ORed into the accumulator, four at a time.
let state: u32 = ACC_ZERO;
let pending: u32 = 0;
let pendingA: usize = 0;
let pendingB: usize = 0;
let pendingC: usize = 0;

// @ts-ignore: decorator
@inline function beginPage(): void {
  state = ACC_ZERO;
  pending = 0;
}

/** Queues a stored page; every fourth one ORs the group into the accumulator. */
function addPage(acc: usize, page: usize): void {
  if (pending == 0) pendingA = page;
  else if (pending == 1) pendingB = page;
  else if (pending == 2) pendingC = page;
  else {
    orPages(acc, pendingA, pendingB, pendingC, page, state == ACC_ZERO);
    state = ACC_MIXED;
    pending = 0;
    return;
  }
  pending++;
}

/** ORs what is still queued (a missing page of the group repeats the last). */
function flushPages(acc: usize): u32 {
  if (pending == 0) return state;
  if (pending == 1) pendingB = pendingA;
  if (pending <= 2) pendingC = pendingB;
  orPages(acc, pendingA, pendingB, pendingC, pendingC, state == ACC_ZERO);
  pending = 0;
  state = ACC_MIXED;
  return state;
}

/** Page `page` of OR over the bit maps whose page tables are listed at `tables`. */
export function accumulatePlain(tables: usize, count: u32, page: u32, acc: usize): u32 {
  beginPage();
  for (let i: u32 = 0; i < count; i++) {
    let entry = pageEntry(tableAt(tables, i), page);
    if (entry == ZERO_PAGE) continue;
    if (entry == ONES_PAGE) return ACC_ONES;
    addPage(acc, <usize>entry);
  }
  return flushPages(acc);
}

/** acc = (first ? 0 : acc) | bits | ~expand(meta), for a constant g the switch folds away. */
// @ts-ignore: decorator
@inline function orBitsAndUnusedAt(acc: usize, bits: usize, meta: usize, first: bool, g: u32): void {
  for (let chunk: u32 = 0; chunk < PAGE_BYTES >> 4; chunk++) {
    let at = acc + (<usize>chunk << 4);
    let x = v128.not(expandChunk(meta, chunk, g));
    if (bits != 0) x = v128.or(x, v128.load(bits + (<usize>chunk << 4)));
    v128.store(at, first ? x : v128.or(v128.load(at), x));
  }
}

/** acc = (first ? 0 : acc) | bits | ~expand(meta), over one page; bits may be 0 (none). */
function orBitsAndUnused(acc: usize, bits: usize, meta: usize, g: u32, first: bool): void {
  switch (g) {
    case 0: orBitsAndUnusedAt(acc, bits, meta, first, 0); break;
    case 1: orBitsAndUnusedAt(acc, bits, meta, first, 1); break;
    case 2: orBitsAndUnusedAt(acc, bits, meta, first, 2); break;
    case 3: orBitsAndUnusedAt(acc, bits, meta, first, 3); break;
    case 4: orBitsAndUnusedAt(acc, bits, meta, first, 4); break;
    case 5: orBitsAndUnusedAt(acc, bits, meta, first, 5); break;
    default: orBitsAndUnusedAt(acc, bits, meta, first, 6); break;
  }
}

/** acc &= expand(meta), for a constant g. */
// @ts-ignore: decorator
@inline function andInUseAt(acc: usize, meta: usize, g: u32): void {
  for (let chunk: u32 = 0; chunk < PAGE_BYTES >> 4; chunk++) {
    let at = acc + (<usize>chunk << 4);
    v128.store(at, v128.and(v128.load(at), expandChunk(meta, chunk, g)));
  }
}

/** acc &= expand(meta), over one page. */
function andInUse(acc: usize, meta: usize, g: u32): void {
  switch (g) {
    case 0: andInUseAt(acc, meta, 0); break;
    case 1: andInUseAt(acc, meta, 1); break;
    case 2: andInUseAt(acc, meta, 2); break;
    case 3: andInUseAt(acc, meta, 3); break;
    case 4: andInUseAt(acc, meta, 4); break;
    case 5: andInUseAt(acc, meta, 5); break;
    default: andInUseAt(acc, meta, 6); break;
  }
}

/**
 * A meta slice of `bytes` that is all zeros or all ones reads as the sentinel, so
 * the common cases (nothing or everything in use) skip the expansion.
 */
function sliceEntry(slice: usize, bytes: u32): u32 {
  let any = i8x16.splat(0);
  let all = v128.not(any);
  for (let i: usize = 0; i < <usize>bytes; i += 16) {
    let x = v128.load(slice + i);
    any = v128.or(any, x);
    all = v128.and(all, x);
  }
  if (!v128.any_true(any)) return ZERO_PAGE;
  if (!v128.any_true(v128.not(all))) return ONES_PAGE;
  return <u32>slice;
}

/** The meta bits of block page `page`, as a slice offset or a sentinel. */
function metaEntry(table: usize, page: u32, g: u32): u32 {
  let entry = pageEntry(table, page >> g);
  if (entry <= ONES_PAGE) return entry;
  return sliceEntry(metaSlice(entry, page, g), PAGE_BYTES >> g);
}

/** Where the meta bits of block page `page` start: a slice of PAGE_BYTES >> g bytes. */
// @ts-ignore: decorator
@inline export function metaSlice(entry: u32, page: u32, g: u32): usize {
  return <usize>entry + <usize>((page & ((1 << g) - 1)) * (PAGE_BYTES >> g));
}

/**
 * Page `page` of OR over I of (bitmap_I | ~meta_I) (FIG. 40, steps 667-668): a block
 * counts as changed after checkpoint I when I saved it or did not have it in use.
 * Meta maps hold one bit per 2^g blocks.
 */
export function accumulateMeta(tables: usize, metas: usize, count: u32, g: u32, page: u32, acc: usize): u32 {
  beginPage();
  for (let i: u32 = 0; i < count; i++) {
    let bits = pageEntry(tableAt(tables, i), page);
    let meta = metaEntry(tableAt(metas, i), page, g);
    if (bits == ONES_PAGE || meta == ZERO_PAGE) return ACC_ONES;
    if (meta == ONES_PAGE) {
      if (bits != ZERO_PAGE) addPage(acc, <usize>bits);
    } else {
      orBitsAndUnused(acc, bits == ZERO_PAGE ? 0 : <usize>bits, <usize>meta, g, state == ACC_ZERO);
      state = ACC_MIXED;
    }
  }
  return flushPages(acc);
}

/**
 * Keeps only the blocks in use in the younger image (metaM in FIG. 40): `live` is
 * the page table of its meta map, at granularity g. Returns the new page state.
 */
export function maskInUse(state: u32, live: usize, g: u32, page: u32, acc: usize): u32 {
  if (state == ACC_ZERO) return state;
  let slice = metaEntry(live, page, g);
  if (slice == ZERO_PAGE) return ACC_ZERO;
  if (slice == ONES_PAGE) return state;
  if (state == ACC_ONES) expandInto(<usize>slice, acc, PAGE_BYTES, g);
  else andInUse(acc, <usize>slice, g);
  return ACC_MIXED;
}
