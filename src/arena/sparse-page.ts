// Sparse bit map pages (as Roaring's array containers): a page table entry
// `slot | SPARSE_TAG` names a small arena slot holding a u16 count n and n sorted
// u16 bit numbers within the page (src/kernels/api.ts, assembly/lib/layout.ts).
// The slot's size follows from n alone (the smallest SMALL_SLOT_BYTES that fits),
// so nothing else needs to remember it.

import { PAGE_BYTES, SPARSE_TAG } from '../kernels/api.js';
import { type Arena, smallSlotBytes } from './arena.js';

/**
 * The most bits a sparse page holds: 255 fill the largest slot (512 bytes, 1/8 of a
 * page). Past it a page is stored dense. Measured (bench/sparse-threshold.mjs, README
 * "Kernels"): up to 255 bits the kernels count and scan a sparse page about as fast as
 * a dense one (the count's cost grows with the bits; past 512 it is 3 x slower or
 * more), while it holds 8 to 64 x less memory.
 */
export const SPARSE_LIMIT = 255;
/**
 * A dense page cleared down to at most this many bits turns sparse again: half the
 * limit, so a page set and cleared around the limit does not flip form every time.
 */
export const SPARSE_LOW = 127;

export function isSparse(entry: number): boolean {
  return (entry & 15) === SPARSE_TAG;
}

/** Slot bytes of a sparse page of n bits. */
export function sparseSlotBytes(n: number): number {
  return smallSlotBytes(2 + 2 * n);
}

export function sparseSlot(entry: number): number {
  return entry - SPARSE_TAG;
}

export function sparseCount(arena: Arena, entry: number): number {
  return arena.u16[sparseSlot(entry) >>> 1]!;
}

/** Index of the first bit number >= bit in the sorted list (n when none). */
export function lowerBound(u16: Uint16Array, list: number, n: number, bit: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (u16[list + mid]! < bit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function sparseHas(arena: Arena, entry: number, bit: number): boolean {
  const u16 = arena.u16;
  const slot = sparseSlot(entry) >>> 1;
  const n = u16[slot]!;
  const i = lowerBound(u16, slot + 1, n, bit);
  return i < n && u16[slot + 1 + i] === bit;
}

/** A new sparse page holding bits [lo, hi) (at most SPARSE_LIMIT of them). */
export function newSparse(arena: Arena, lo: number, hi: number): number {
  const n = hi - lo;
  const slot = arena.allocSmall(sparseSlotBytes(n));
  const u16 = arena.u16;
  u16[slot >>> 1] = n;
  for (let i = 0; i < n; i++) u16[(slot >>> 1) + 1 + i] = lo + i;
  return slot + SPARSE_TAG;
}

export function freeSparse(arena: Arena, entry: number): void {
  arena.freeSmall(sparseSlot(entry), sparseSlotBytes(sparseCount(arena, entry)));
}

/**
 * The sparse page with bits [lo, hi) set (value) or cleared, as a new entry: the same
 * slot when its size still fits, another one (the old freed) when not, ZERO (0) when
 * no bit is left, or undefined when more than SPARSE_LIMIT bits would be set (the
 * caller stores the page dense; nothing was changed).
 */
export function writeSparse(arena: Arena, entry: number, lo: number, hi: number, value: boolean): number | undefined {
  let u16 = arena.u16;
  const slot = sparseSlot(entry);
  const n = u16[slot >>> 1]!;
  const i = lowerBound(u16, (slot >>> 1) + 1, n, lo);
  const j = lowerBound(u16, (slot >>> 1) + 1, n, hi);
  const run = value ? hi - lo : 0;
  const after = n - (j - i) + run;
  if (after > SPARSE_LIMIT) return undefined;
  if (after === 0) {
    freeSparse(arena, entry);
    return 0;
  }
  const same = sparseSlotBytes(after) === sparseSlotBytes(n);
  const into = same ? slot : arena.allocSmall(sparseSlotBytes(after));
  u16 = arena.u16;
  const src = (slot >>> 1) + 1;
  const dst = (into >>> 1) + 1;
  // The tail first: in the same slot it may move either way over itself.
  u16.copyWithin(dst + i + run, src + j, src + n);
  if (!same) u16.copyWithin(dst, src, src + i);
  for (let k = 0; k < run; k++) u16[dst + i + k] = lo + k;
  u16[into >>> 1] = after;
  if (!same) arena.freeSmall(slot, sparseSlotBytes(n));
  return into + SPARSE_TAG;
}

/** Sets the bits of a sparse page in a dense page (ORs them in). */
export function orSparseInto(arena: Arena, entry: number, page: number): void {
  const u16 = arena.u16;
  const u8 = arena.u8;
  const slot = sparseSlot(entry) >>> 1;
  const n = u16[slot]!;
  for (let k = 0; k < n; k++) {
    const bit = u16[slot + 1 + k]!;
    u8[page + (bit >>> 3)]! |= 1 << (bit & 7);
  }
}

/** A dense page holding the bits of a sparse one (which is freed). */
export function densify(arena: Arena, entry: number): number {
  const page = arena.allocPage();
  orSparseInto(arena, entry, page);
  freeSparse(arena, entry);
  return page;
}

/** Set bits of a dense page, counting no further than `limit + 1`. */
export function countUpTo(arena: Arena, page: number, limit: number): number {
  const u32 = arena.u32;
  let n = 0;
  for (let w = page >>> 2, end = w + (PAGE_BYTES >>> 2); w < end && n <= limit; w++) n += popcount32(u32[w]!);
  return n;
}

/** A sparse page with the `n` set bits of a dense page (which the caller frees). */
export function sparseFromDense(arena: Arena, page: number, n: number): number {
  const slot = arena.allocSmall(sparseSlotBytes(n));
  const u16 = arena.u16;
  const u32 = arena.u32;
  let k = (slot >>> 1) + 1;
  for (let w = 0; w < PAGE_BYTES >>> 2; w++) {
    let x = u32[(page >>> 2) + w]!;
    while (x !== 0) {
      u16[k++] = w * 32 + (31 - Math.clz32(x & -x));
      x &= x - 1;
    }
  }
  u16[slot >>> 1] = n;
  return slot + SPARSE_TAG;
}

/** The union of two sparse pages as a new sparse entry, or undefined past SPARSE_LIMIT. Both are kept. */
export function unionSparse(arena: Arena, a: number, b: number): number | undefined {
  let u16 = arena.u16;
  const sa = (sparseSlot(a) >>> 1) + 1;
  const sb = (sparseSlot(b) >>> 1) + 1;
  const na = u16[sa - 1]!;
  const nb = u16[sb - 1]!;
  const merged: number[] = [];
  let i = 0;
  let j = 0;
  while (i < na || j < nb) {
    const x = i < na ? u16[sa + i]! : 0x10000;
    const y = j < nb ? u16[sb + j]! : 0x10000;
    merged.push(Math.min(x, y));
    if (x <= y) i++;
    if (y <= x) j++;
    if (merged.length > SPARSE_LIMIT) return undefined;
  }
  const slot = arena.allocSmall(sparseSlotBytes(merged.length));
  u16 = arena.u16;
  u16[slot >>> 1] = merged.length;
  u16.set(merged, (slot >>> 1) + 1);
  return slot + SPARSE_TAG;
}

/** A copy of a sparse page in its own slot. */
export function copySparse(arena: Arena, entry: number): number {
  const bytes = sparseSlotBytes(sparseCount(arena, entry));
  const slot = arena.allocSmall(bytes);
  arena.u8.copyWithin(slot, sparseSlot(entry), sparseSlot(entry) + bytes);
  return slot + SPARSE_TAG;
}

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}
