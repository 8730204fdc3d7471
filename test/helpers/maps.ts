// Random page-table bit maps for the kernel tests. A MapSpec is a plain description
// (page kinds + flat content) that can be built, identically, in any number of
// arenas (one per backend) and turned into a plain bit array for the reference.
//
// Page kinds mix both sentinels (ZERO_PAGE, ONES_PAGE) with stored pages, including
// stored pages that happen to be all zeros or all ones; stored pages hold scattered
// bits, clustered runs, bits placed on word / 16-byte chunk / page edges, or one to
// three bits unlike the rest, at densities 0..100%. ONES_PAGE is only used for full
// pages: bits past `bits` in the last page stay 0 (the PagedBitmap invariant), so a
// partial last page is stored.

import { ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, ZERO_PAGE, type Arena, PagedBitmap } from '../../src/index.js';
import type { Prng } from './prng.js';
import { type Bits, bytesToBits } from './reference.js';

export type PageKind = 'zero' | 'ones' | 'stored-zero' | 'stored-ones' | 'stored';
export type Pattern = 'scattered' | 'clustered' | 'edges' | 'few';

export interface MapStyle {
  /** Fraction of set bits aimed at, 0..1. */
  density: number;
  pattern: Pattern;
  /** Probability that a page is a sentinel (ZERO_PAGE or ONES_PAGE). */
  sentinels: number;
  /** Probability that a page is stored but all zeros or all ones. */
  uniform: number;
  /** Probability that a page picks a density of its own (default 0.3), so maps mix. */
  mix?: number;
}

export interface MapSpec {
  bits: number;
  kinds: PageKind[];
  /** pages * PAGE_BYTES bytes: the content of every page, sentinels included. */
  data: Uint8Array;
}

export const DENSITIES = [0, 0.0005, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.9995, 1] as const;
const PATTERNS: readonly Pattern[] = ['scattered', 'clustered', 'edges', 'few'];

export function pagesFor(bits: number): number {
  return Math.max(1, Math.ceil(bits / PAGE_BLOCKS));
}

/** A random style; `bias` leans the density toward low (bit maps) or high (meta maps). */
export function randomStyle(rng: Prng, bias: 'low' | 'high' | 'any' = 'any'): MapStyle {
  let density: number = rng.pick(DENSITIES);
  if (bias === 'low' && rng.chance(0.6)) density = rng.pick([0, 0.0005, 0.01, 0.1]);
  if (bias === 'high' && rng.chance(0.7)) density = rng.pick([0.9, 0.99, 0.9995, 1]);
  return {
    density,
    pattern: rng.pick(PATTERNS),
    sentinels: rng.pick([0, 0.2, 0.5, 0.9]),
    uniform: rng.pick([0, 0.1, 0.3]),
  };
}

/**
 * A style that stays near one end: sparse (few bits, mostly ZERO_PAGE) or nearly
 * full (mostly ONES_PAGE, pages with few zeros), with no pages of other densities.
 * Many such maps ORed together still leave something to find.
 */
export function extremeStyle(rng: Prng, end: 'sparse' | 'full'): MapStyle {
  return {
    density: end === 'sparse' ? rng.pick([0, 0.0005, 0.0005, 0.01]) : rng.pick([0.99, 0.9995, 0.9995, 1]),
    pattern: rng.pick(PATTERNS),
    sentinels: rng.pick([0.3, 0.6, 0.9]),
    uniform: rng.pick([0, 0.1]),
    mix: 0,
  };
}

/** Sets bits [lo, hi) of a page's bytes. */
function setBits(page: Uint8Array, lo: number, hi: number): void {
  for (let b = lo; b < hi; b++) page[b >> 3]! |= 1 << (b & 7);
}

function clearBits(page: Uint8Array, lo: number, hi: number): void {
  for (let b = lo; b < hi; b++) page[b >> 3]! &= ~(1 << (b & 7));
}

/** Scattered bits at density d over bits [0, n) (geometric gaps, so sparse pages are cheap). */
function scattered(rng: Prng, page: Uint8Array, n: number, d: number): void {
  if (d <= 0) return;
  if (d >= 1) return setBits(page, 0, n);
  const invert = d > 0.5;
  const p = invert ? 1 - d : d;
  if (invert) setBits(page, 0, n);
  const logq = Math.log(1 - p);
  for (let b = Math.floor(Math.log(1 - rng.float()) / logq); b < n; b += 1 + Math.floor(Math.log(1 - rng.float()) / logq)) {
    if (invert) page[b >> 3]! &= ~(1 << (b & 7));
    else page[b >> 3]! |= 1 << (b & 7);
  }
}

/** Alternating runs of zeros and ones with density d. */
function clustered(rng: Prng, page: Uint8Array, n: number, d: number): void {
  if (d <= 0) return;
  if (d >= 1) return setBits(page, 0, n);
  const ones = rng.pick([1, 2, 3, 7, 31, 32, 33, 63, 64, 65, 127, 129, 500, 4000, 20000]);
  const zeros = Math.max(1, (ones * (1 - d)) / d);
  let b = rng.chance(0.5) ? 0 : rng.runLength(zeros);
  while (b < n) {
    const len = rng.runLength(ones);
    setBits(page, b, Math.min(n, b + len));
    b += len + rng.runLength(zeros);
  }
}

/** Bits and runs placed on and around word, 16-byte chunk and page edges. */
function edges(rng: Prng, page: Uint8Array, n: number, d: number): void {
  if (n === 0) return;
  const start = d >= 0.5;
  if (start) setBits(page, 0, n);
  const marks = 1 + rng.int(0, 40);
  for (let i = 0; i < marks; i++) {
    const unit = rng.pick([32, 64, 128, 256, 1024, PAGE_BLOCKS]);
    const base = unit * rng.int(0, Math.floor(n / unit)) + rng.int(-2, 1);
    const len = rng.pick([1, 1, 2, 31, 32, 33, 63, 64, 65, 128, 129, 300]);
    const lo = Math.max(0, Math.min(n, base));
    const hi = Math.max(lo, Math.min(n, base + len));
    if (start) clearBits(page, lo, hi);
    else setBits(page, lo, hi);
  }
}

/** All zeros (d < 0.5) or all ones with one to three bits the other way, anywhere. */
function few(rng: Prng, page: Uint8Array, n: number, d: number): void {
  if (n === 0) return;
  const ones = d >= 0.5;
  if (ones) setBits(page, 0, n);
  for (let i = rng.int(1, 3); i > 0; i--) {
    // Anywhere, or on the first or last bit of a byte (lane edges for SIMD tests).
    const b = rng.chance(0.5) ? rng.int(0, n - 1) : Math.min(n - 1, 8 * rng.int(0, (n - 1) >> 3) + rng.pick([0, 7]));
    if (ones) page[b >> 3]! &= ~(1 << (b & 7));
    else page[b >> 3]! |= 1 << (b & 7);
  }
}

/** A random map of `bits` bits in the given style. */
export function randomMapSpec(rng: Prng, bits: number, style: MapStyle): MapSpec {
  const pages = pagesFor(bits);
  const data = new Uint8Array(pages * PAGE_BYTES);
  const kinds: PageKind[] = [];
  for (let p = 0; p < pages; p++) {
    const inPage = Math.max(0, Math.min(PAGE_BLOCKS, bits - p * PAGE_BLOCKS));
    const full = inPage === PAGE_BLOCKS;
    const page = data.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES);
    // Most pages follow the style; some pick their own density, so maps mix.
    const d = rng.chance(style.mix ?? 0.3) ? rng.pick(DENSITIES) : style.density;
    const r = rng.float();
    let kind: PageKind;
    if (r < style.sentinels) {
      const ones = d >= 1 || (d > 0 && rng.chance(d));
      kind = ones ? (full ? 'ones' : 'stored-ones') : 'zero';
    } else if (r < style.sentinels + style.uniform) {
      kind = d >= 1 || (d > 0 && rng.chance(d)) ? 'stored-ones' : 'stored-zero';
    } else {
      kind = 'stored';
    }
    if (kind === 'ones' || kind === 'stored-ones') setBits(page, 0, inPage);
    else if (kind === 'stored') {
      const pattern = rng.chance(0.8) ? style.pattern : rng.pick(PATTERNS);
      if (pattern === 'scattered') scattered(rng, page, inPage, d);
      else if (pattern === 'clustered') clustered(rng, page, inPage, d);
      else if (pattern === 'edges') edges(rng, page, inPage, d);
      else few(rng, page, inPage, d);
    }
    kinds.push(kind);
  }
  return { bits, kinds, data };
}

/** A map with explicit page kinds (content of stored pages from `fill`). */
export function mapSpecOf(bits: number, kinds: readonly PageKind[], fill?: (page: Uint8Array, p: number, inPage: number) => void): MapSpec {
  const pages = pagesFor(bits);
  if (kinds.length !== pages) throw new Error(`mapSpecOf: ${pages} pages, ${kinds.length} kinds`);
  const data = new Uint8Array(pages * PAGE_BYTES);
  kinds.forEach((kind, p) => {
    const inPage = Math.max(0, Math.min(PAGE_BLOCKS, bits - p * PAGE_BLOCKS));
    if (kind === 'ones' && inPage !== PAGE_BLOCKS) throw new Error('mapSpecOf: ONES_PAGE on a partial page');
    const page = data.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES);
    if (kind === 'ones' || kind === 'stored-ones') setBits(page, 0, inPage);
    else if (kind === 'stored' && fill) {
      fill(page, p, inPage);
      clearBits(page, inPage, PAGE_BLOCKS);
    }
  });
  return { bits, kinds: [...kinds], data };
}

/** Builds the map in an arena: sentinels via setEntry, stored pages from arena.allocPage(). */
export function buildMap(arena: Arena, spec: MapSpec): PagedBitmap {
  const map = PagedBitmap.create(arena, spec.bits);
  spec.kinds.forEach((kind, p) => {
    if (kind === 'zero') map.setEntry(p, ZERO_PAGE);
    else if (kind === 'ones') map.setEntry(p, ONES_PAGE);
    else {
      const page = arena.allocPage();
      arena.u8.set(spec.data.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES), page);
      map.setEntry(p, page);
    }
  });
  return map;
}

/** A random map built in `arena`, with its spec and its bits for the reference. */
export function randomMap(arena: Arena, rng: Prng, bits: number, style: MapStyle = randomStyle(rng)):
  { map: PagedBitmap; spec: MapSpec; bits: Bits } {
  const spec = randomMapSpec(rng, bits, style);
  return { map: buildMap(arena, spec), spec, bits: specBits(spec) };
}

/** The spec's bits as a plain bit array (one 0/1 per bit) for the reference. */
export function specBits(spec: MapSpec): Bits {
  return bytesToBits(spec.data, spec.bits);
}

/** A map's bits read straight from the arena (no kernel involved): one 0/1 per bit. */
export function readMapBits(map: PagedBitmap): Bits {
  const out = new Uint8Array(map.bits);
  const u8 = map.arena.u8;
  for (let p = 0; p < map.pages; p++) {
    const entry = map.entry(p);
    const lo = p * PAGE_BLOCKS;
    const hi = Math.min(map.bits, lo + PAGE_BLOCKS);
    if (entry === ZERO_PAGE) continue;
    if (entry === ONES_PAGE) {
      out.fill(1, lo, hi);
      continue;
    }
    for (let b = lo; b < hi; b++) out[b] = (u8[entry + ((b - lo) >> 3)]! >> ((b - lo) & 7)) & 1;
  }
  return out;
}

/** A map's page bytes read straight from the arena, pages * PAGE_BYTES of them (sentinels expanded). */
export function readMapPages(map: PagedBitmap): Uint8Array {
  const out = new Uint8Array(map.pages * PAGE_BYTES);
  const u8 = map.arena.u8;
  for (let p = 0; p < map.pages; p++) {
    const entry = map.entry(p);
    if (entry === ONES_PAGE) out.fill(0xff, p * PAGE_BYTES, (p + 1) * PAGE_BYTES);
    else if (entry !== ZERO_PAGE) out.set(u8.subarray(entry, entry + PAGE_BYTES), p * PAGE_BYTES);
  }
  return out;
}

/** What each entry of a map is: 'zero', 'ones' or 'stored'. */
export function entryKinds(map: PagedBitmap): Array<'zero' | 'ones' | 'stored'> {
  const out: Array<'zero' | 'ones' | 'stored'> = [];
  for (let p = 0; p < map.pages; p++) {
    const e = map.entry(p);
    out.push(e === ZERO_PAGE ? 'zero' : e === ONES_PAGE ? 'ones' : 'stored');
  }
  return out;
}
