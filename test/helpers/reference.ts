// A slow, obviously correct reference for the kernels, written straight from the
// seed's flowcharts on plain bit arrays: a Bits is a Uint8Array holding one 0 or 1
// per bit (per block for bit maps, per 2^g blocks for meta bit maps).
//
// FIG. 34/35 (plain): for every block B_i (outer loop), for I = L..M-1 (inner loop):
//   if bitmap_I(B_i) is set, the block changed (step 585 -> 589); after M-1, it did not.
// FIG. 39/40 (meta): for every block B_i (outer loop):
//   step 665: if metaM(B_i) is 0, the block is not in use in M: not returned;
//   for I = L..M-1 (inner loop, steps 666/669/670):
//     step 667: bitmap_I(B_i) set -> changed;
//     step 668: meta_I(B_i) not set (not in use in I) -> changed.
// A meta map at granularity g holds one bit per 2^g blocks: block b is meta bit b >> g.

import { expect } from 'vitest';

export type Bits = Uint8Array;
export type Extent = [start: number, length: number];

export interface RefMeta {
  /** Meta maps of L..M-1, in the order of the bit maps. */
  metas: readonly Bits[];
  /** M's meta map. */
  live: Bits;
  g: number;
}

/** FIG. 34: whether block b changed between L and M (bit maps of L..M-1). */
export function changedPlain(bitmaps: readonly Bits[], b: number): boolean {
  for (let i = 0; i < bitmaps.length; i++) {
    if (bitmaps[i]![b] === 1) return true; // step 585 -> 589
  }
  return false; // step 586: I = M-1, nothing set
}

/** FIG. 40: metaM(b) AND OR over I of (bitmap_I(b) OR NOT meta_I(b)). */
export function changedMeta(bitmaps: readonly Bits[], meta: RefMeta, b: number): boolean {
  const m = b >> meta.g;
  if (meta.live[m] !== 1) return false; // step 665: not in use in M
  for (let i = 0; i < bitmaps.length; i++) {
    if (bitmaps[i]![b] === 1) return true; // step 667
    if (meta.metas[i]![m] !== 1) return true; // step 668
  }
  return false;
}

export interface RefScan {
  /** Maximal runs of changed blocks within [from, to), ascending. */
  extents: Extent[];
  /** Changed blocks within [from, to). */
  count: number;
}

/** The delta over blocks [from, to): outer loop over blocks, inner over checkpoints. */
export function refScan(bitmaps: readonly Bits[], from: number, to: number, meta?: RefMeta): RefScan {
  const extents: Extent[] = [];
  let count = 0;
  let runStart = -1;
  for (let b = from; b < to; b++) {
    const changed = meta ? changedMeta(bitmaps, meta, b) : changedPlain(bitmaps, b);
    if (changed) {
      count++;
      if (runStart < 0) runStart = b;
    } else if (runStart >= 0) {
      extents.push([runStart, b - runStart]);
      runStart = -1;
    }
  }
  if (runStart >= 0) extents.push([runStart, to - runStart]);
  return { extents, count };
}

/** Bit k of the expansion = bit k >> g of src; `outBits` bits. */
export function refExpand(src: Bits, g: number, outBits: number): Bits {
  const out = new Uint8Array(outBits);
  for (let k = 0; k < outBits; k++) out[k] = src[k >> g] === 1 ? 1 : 0;
  return out;
}

/** Bit k of the shrink = OR of src bits [k << g, (k + 1) << g); `outBits` bits. */
export function refShrink(src: Bits, g: number, outBits: number): Bits {
  const out = new Uint8Array(outBits);
  for (let k = 0; k < outBits; k++) {
    for (let j = k << g; j < (k + 1) << g; j++) {
      if (src[j] === 1) {
        out[k] = 1;
        break;
      }
    }
  }
  return out;
}

/** a OR b, bit by bit. */
export function refOr(a: Bits, b: Bits): Bits {
  if (a.length !== b.length) throw new Error('refOr: bit arrays of different lengths');
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] === 1 || b[i] === 1 ? 1 : 0;
  return out;
}

export function popcountBits(bits: Bits): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) n += bits[i]!;
  return n;
}

/** Bits 0..nbits-1 of little-endian bytes (bit b = bit b & 7 of byte b >> 3). */
export function bytesToBits(bytes: Uint8Array, nbits = bytes.length * 8): Bits {
  const out = new Uint8Array(nbits);
  for (let b = 0; b < nbits; b++) out[b] = (bytes[b >> 3]! >> (b & 7)) & 1;
  return out;
}

/** Bits packed into ceil(n / 8) little-endian bytes. */
export function bitsToBytes(bits: Bits): Uint8Array {
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  for (let b = 0; b < bits.length; b++) if (bits[b] === 1) out[b >> 3]! |= 1 << (b & 7);
  return out;
}

/** Runs of set bits of a whole bit array, as extents. */
export function refRuns(bits: Bits): Extent[] {
  return refScan([bits], 0, bits.length).extents;
}

/** Index of the first difference of two byte / bit arrays, or -1 when equal. */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** Index of the first differing extent, or -1 when the lists are equal. */
export function firstExtentDifference(a: readonly Extent[], b: readonly Extent[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i]![0] !== b[i]![0] || a[i]![1] !== b[i]![1]) return i;
  return a.length === b.length ? -1 : n;
}

// Fast equality checks for large arrays (vitest's deep equality walks them element by
// element with a lot of overhead); on a difference they fail with a small window
// around the first differing element, so the message stays readable.

export function expectSameBytes(actual: ArrayLike<number>, expected: ArrayLike<number>, what = 'bytes'): void {
  const i = firstDifference(actual, expected);
  if (i < 0) return;
  const window = (x: ArrayLike<number>) => Array.from(x).slice(Math.max(0, i - 4), i + 12);
  expect({ what, length: actual.length, firstDifferenceAt: i, from: Math.max(0, i - 4), values: window(actual) })
    .toEqual({ what, length: expected.length, firstDifferenceAt: i, from: Math.max(0, i - 4), values: window(expected) });
}

export function expectSameExtents(actual: readonly Extent[], expected: readonly Extent[], what = 'extents'): void {
  const i = firstExtentDifference(actual, expected);
  if (i < 0) return;
  const window = (x: readonly Extent[]) => x.slice(Math.max(0, i - 2), i + 6);
  expect({ what, count: actual.length, firstDifferenceAt: i, extents: window(actual) })
    .toEqual({ what, count: expected.length, firstDifferenceAt: i, extents: window(expected) });
}
