// Building one page of the delta (FIG. 34/35, 39/40) in an accumulator page:
// the inner loop over checkpoints runs over whole pages, 16 bytes at a time, and
// sentinel pages cost nothing. The result says ACC_ZERO / ACC_ONES without
// touching the accumulator, or ACC_MIXED with the page in it.

import { expandChunk } from "./expand-chunk";
import { ACC_MIXED, ACC_ONES, ACC_ZERO, ONES_PAGE, PAGE_BYTES, ZERO_PAGE, pageEntry, tableAt } from "./layout";

/** acc = (first ? 0 : acc) | a | b | c | d, over one page. */
function orPages(acc: usize, a: usize, b: usize, c: usize, d: usize, first: bool): void {
  if (first) {
    for (let i: usize = 0; i < PAGE_BYTES; i += 16) {
      let x = v128.or(v128.or(v128.load(a + i), v128.load(b + i)), v128.or(v128.load(c + i), v128.load(d + i)));
      v128.store(acc + i, x);
    }
  } else {
    for (let i: usize = 0; i < PAGE_BYTES; i += 16) {
      let x = v128.or(v128.or(v128.load(a + i), v128.load(b + i)), v128.or(v128.load(c + i), v128.load(d + i)));
      v128.store(acc + i, v128.or(v128.load(acc + i), x));
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

/** acc = (first ? 0 : acc) | bits | ~expand(meta), over one page; bits may be 0 (none). */
function orBitsAndUnused(acc: usize, bits: usize, meta: usize, g: u32, first: bool): void {
  for (let chunk: u32 = 0; chunk < PAGE_BYTES >> 4; chunk++) {
    let at = acc + (<usize>chunk << 4);
    let x = v128.not(expandChunk(meta, chunk, g));
    if (bits != 0) x = v128.or(x, v128.load(bits + (<usize>chunk << 4)));
    v128.store(at, first ? x : v128.or(v128.load(at), x));
  }
}

/** acc &= expand(meta), over one page. */
export function andInUse(acc: usize, meta: usize, g: u32): void {
  for (let chunk: u32 = 0; chunk < PAGE_BYTES >> 4; chunk++) {
    let at = acc + (<usize>chunk << 4);
    v128.store(at, v128.and(v128.load(at), expandChunk(meta, chunk, g)));
  }
}

/** acc = expand(meta), over one page. */
export function copyInUse(acc: usize, meta: usize, g: u32): void {
  for (let chunk: u32 = 0; chunk < PAGE_BYTES >> 4; chunk++) {
    v128.store(acc + (<usize>chunk << 4), expandChunk(meta, chunk, g));
  }
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
  let metaPage = page >> g;
  for (let i: u32 = 0; i < count; i++) {
    let bits = pageEntry(tableAt(tables, i), page);
    let meta = pageEntry(tableAt(metas, i), metaPage);
    if (bits == ONES_PAGE || meta == ZERO_PAGE) return ACC_ONES;
    if (meta == ONES_PAGE) {
      if (bits != ZERO_PAGE) addPage(acc, <usize>bits);
    } else {
      orBitsAndUnused(acc, bits == ZERO_PAGE ? 0 : <usize>bits, metaSlice(meta, page, g), g, state == ACC_ZERO);
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
  let entry = pageEntry(live, page >> g);
  if (entry == ZERO_PAGE) return ACC_ZERO;
  if (entry == ONES_PAGE) return state;
  let slice = metaSlice(entry, page, g);
  if (state == ACC_ONES) copyInUse(acc, slice, g);
  else andInUse(acc, slice, g);
  return ACC_MIXED;
}
