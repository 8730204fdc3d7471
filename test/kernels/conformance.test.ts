// Kernel conformance: the backend under test (SNAPCOPY_KERNELS) agrees with the plain
// reference of test/helpers/reference.ts, and bit for bit with the other backend, on
// random page tables that mix sentinels and stored pages at every density.
//
// Every property takes its seed from SNAPCOPY_SEED (or a fresh one, printed): replay
// a failure with SNAPCOPY_SEED=<seed> npx vitest run test/kernels/conformance.test.ts.

import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import {
  ACC_BYTES, Arena, type Backend, ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, type PagedBitmap, ZERO_PAGE,
  countDelta, deltaExtents, scanDelta,
} from '../../src/index.js';
import { SPARSE_MAX, SPARSE_TAG } from '../../src/kernels/api.js';
import { backend, newArena } from '../helpers/backend.js';
import {
  type MapSpec, buildMap, extremeStyle, mapSpecOf, pagesFor, randomMapSpec, randomStyle, readMapBits, readMapPages,
  specBits,
} from '../helpers/maps.js';
import { Prng, testSeed } from '../helpers/prng.js';
import {
  type Bits, type Extent, bitsToBytes, bytesToBits, expectSameBytes, expectSameExtents, popcountBits, refExpand, refOr,
  refScan, refShrink,
} from '../helpers/reference.js';

const SEED = testSeed('conformance');
const otherBackend: Backend = backend === 'wasm' ? 'ts' : 'wasm';
const arena = newArena();
const other = new Arena({ kernels: otherBackend });

/** A different but reproducible seed for each property. */
function seedFor(name: string): number {
  let h = SEED;
  for (let i = 0; i < name.length; i++) h = (Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0) & 0x7fffffff;
  return h;
}

/**
 * Recipes are seeds for the map generators, so shrinking one changes the whole case
 * and mostly costs time: a failure is reported as found, with its recipe and the seed.
 */
function params(name: string, numRuns: number): fc.Parameters<unknown> {
  return { seed: seedFor(name), numRuns, endOnFailure: true };
}

afterAll(() => {
  // Everything the properties built was freed again: the arenas hold nothing.
  expect(arena.stats().bytesInUse).toBe(0);
  expect(other.stats().bytesInUse).toBe(0);
});

// ---------------------------------------------------------------------------------
// Delta scans (scanPlain / scanMeta, popcountPlain / popcountMeta)

/** The reference costs blocks * K steps: cases are kept under this. */
const BUDGET = 1 << 22;

type RangeMode = 'whole' | 'random' | 'page-edges' | 'word-edges' | 'empty' | 'single';

interface ScanCase {
  blocks: number;
  from: number;
  to: number;
  bitmaps: MapSpec[];
  meta?: { g: number; metas: MapSpec[]; live: MapSpec };
  /** Small output capacity: the scan resumes many times. */
  cap: number;
}

const scanRecipe = fc.record({
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
  k: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 64 })),
  pages: fc.integer({ min: 1, max: 10 }),
  tail: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: PAGE_BLOCKS - 1 }), fc.integer({ min: 1, max: 300 })),
  g: fc.integer({ min: 0, max: 6 }),
  range: fc.oneof(
    { arbitrary: fc.constantFrom<RangeMode>('whole', 'random', 'page-edges', 'word-edges'), weight: 8 },
    { arbitrary: fc.constantFrom<RangeMode>('empty', 'single'), weight: 1 },
  ),
  cap: fc.integer({ min: 1, max: 6 }),
});

type ScanRecipe = typeof scanRecipe extends fc.Arbitrary<infer T> ? T : never;

function clamp(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, x));
}

function pickRange(rng: Prng, blocks: number, mode: RangeMode): [number, number] {
  const near = (unit: number): number => clamp(unit * rng.int(0, Math.ceil(blocks / unit)) + rng.int(-2, 2), 0, blocks);
  let a: number, b: number;
  switch (mode) {
    case 'whole': return [0, blocks];
    case 'empty': a = rng.int(0, blocks); return [a, a];
    case 'single': a = rng.int(0, Math.max(0, blocks - 1)); return [a, Math.min(blocks, a + 1)];
    case 'random': a = rng.int(0, blocks); b = rng.int(0, blocks); break;
    case 'page-edges': a = near(PAGE_BLOCKS); b = near(PAGE_BLOCKS); break;
    default: {
      const unit = rng.pick([32, 64, 128, 1024]);
      a = near(unit);
      b = near(unit);
    }
  }
  return a <= b ? [a, b] : [b, a];
}

function makeScanCase(r: ScanRecipe, withMeta: boolean): ScanCase {
  const rng = new Prng(r.seed);
  const pages = Math.min(r.pages, Math.max(1, Math.floor(BUDGET / (r.k * PAGE_BLOCKS))));
  const blocks = r.tail === 0 ? pages * PAGE_BLOCKS : (pages - 1) * PAGE_BLOCKS + r.tail;
  const [from, to] = pickRange(rng, blocks, r.range);
  // Now and then a map is listed twice (the same page table at two positions).
  const again = <T>(list: T[], make: () => T): T => (list.length > 0 && rng.chance(0.15) ? rng.pick(list) : make());
  // A few maps of any style; the rest stay near one end, so that many of them ORed
  // together do not simply cover everything.
  const free = Math.min(1, 3 / r.k);
  const style = (near: 'sparse' | 'full', bias: 'low' | 'high' | 'any') =>
    (rng.chance(free) ? randomStyle(rng, bias) : extremeStyle(rng, near));
  const bitmaps: MapSpec[] = [];
  for (let i = 0; i < r.k; i++) bitmaps.push(again(bitmaps, () => randomMapSpec(rng, blocks, style('sparse', withMeta ? 'low' : 'any'))));
  const c: ScanCase = { blocks, from, to, bitmaps, cap: r.cap };
  if (withMeta) {
    const metaBits = Math.ceil(blocks / 2 ** r.g);
    const metas: MapSpec[] = [];
    for (let i = 0; i < r.k; i++) metas.push(again(metas, () => randomMapSpec(rng, metaBits, style('full', rng.chance(0.8) ? 'high' : 'any'))));
    const live = randomMapSpec(rng, metaBits, randomStyle(rng, rng.chance(0.8) ? 'high' : 'any'));
    c.meta = { g: r.g, metas, live };
  }
  return c;
}

interface BuiltScan {
  bitmaps: PagedBitmap[];
  meta?: { metas: PagedBitmap[]; live: PagedBitmap; granularity: number };
  free(): void;
}

/** Builds the maps of a case; a spec listed twice is one map listed twice (the same page table). */
function buildScan(a: Arena, c: ScanCase): BuiltScan {
  const maps = new Map<MapSpec, PagedBitmap>();
  const build = (s: MapSpec): PagedBitmap => {
    let m = maps.get(s);
    if (!m) maps.set(s, (m = buildMap(a, s)));
    return m;
  };
  const built: BuiltScan = {
    bitmaps: c.bitmaps.map(build),
    free() {
      for (const m of maps.values()) m.free();
    },
  };
  if (c.meta) built.meta = { metas: c.meta.metas.map(build), live: build(c.meta.live), granularity: c.meta.g };
  return built;
}

function reference(c: ScanCase): { extents: Extent[]; count: number } {
  const bits = c.bitmaps.map(specBits);
  const meta = c.meta && { g: c.meta.g, metas: c.meta.metas.map(specBits), live: specBits(c.meta.live) };
  return refScan(bits, c.from, c.to, meta);
}

function pairs(batch: Uint32Array): Extent[] {
  const out: Extent[] = [];
  for (let i = 0; i < batch.length; i += 2) out.push([batch[i]!, batch[i + 1]!]);
  return out;
}

/** Batches small enough that the scan resumes often, but at most ~150 times. */
function batchFor(c: ScanCase, extents: number): number {
  return Math.max(c.cap, Math.ceil(extents / 150));
}

/**
 * Calls the scan kernel directly with a small capacity and a dirty accumulator, and
 * checks the resumption contract on every call: at most `capacity` extents, nothing
 * written past the `capacity` slots (the slots past the extents returned are the
 * kernel's scratch: the wasm emitter writes runs four slots at a time), the cursor at
 * `to` when done or else at the start of the first extent not written (and the buffer full).
 */
function directScan(a: Arena, built: BuiltScan, c: ScanCase, capacity: number, rng: Prng): Extent[] {
  const k = built.bitmaps.length;
  const lists = a.alloc(8 * k + 16);
  const acc = a.alloc(ACC_BYTES);
  const outBytes = capacity * 8 + 64;
  const out = a.alloc(outBytes);
  const tables = lists, metas = lists + 4 * k, cursor = lists + 8 * k;
  try {
    built.bitmaps.forEach((m, i) => (a.u32[(tables >>> 2) + i] = m.table));
    built.meta?.metas.forEach((m, i) => (a.u32[(metas >>> 2) + i] = m.table));
    const all: Extent[] = [];
    let at = c.from;
    for (let calls = 0; ; calls++) {
      rng.fill(a.u8.subarray(acc, acc + ACC_BYTES)); // kernels must not rely on a clean accumulator
      a.u8.fill(0xa5, out, out + outBytes);
      a.u32[cursor >>> 2] = 0xdeadbeef;
      const n = built.meta
        ? a.kernels.scanMeta(tables, metas, k, built.meta.live.table, built.meta.granularity, at, c.to, out, capacity, cursor, acc)
        : a.kernels.scanPlain(tables, k, at, c.to, out, capacity, cursor, acc);
      const next = a.u32[cursor >>> 2]!;
      expect(n).toBeGreaterThanOrEqual(0);
      expect(n).toBeLessThanOrEqual(capacity);
      expect(a.u8.subarray(out + capacity * 8, out + outBytes).every((x) => x === 0xa5), 'nothing written past capacity').toBe(true);
      const got = pairs(a.u32.slice(out >>> 2, (out >>> 2) + 2 * n));
      all.push(...got);
      if (next === c.to) break;
      // Stopped early: only because the buffer was full, and at a run not yet written.
      expect(n).toBe(capacity);
      expect(next).toBeGreaterThan(at);
      expect(next).toBeLessThan(c.to);
      const last = got[got.length - 1]!;
      expect(next).toBeGreaterThan(last[0] + last[1]);
      expect(calls).toBeLessThan(1e6);
      at = next;
    }
    // The count kernels, with a dirty accumulator too.
    rng.fill(a.u8.subarray(acc, acc + ACC_BYTES));
    const count = built.meta
      ? a.kernels.popcountMeta(tables, metas, k, built.meta.live.table, built.meta.granularity, c.from, c.to, acc)
      : a.kernels.popcountPlain(tables, k, c.from, c.to, acc);
    expect(count).toBe(all.reduce((sum, [, length]) => sum + length, 0));
    return all;
  } finally {
    a.free(lists, 8 * k + 16);
    a.free(acc, ACC_BYTES);
    a.free(out, outBytes);
  }
}

/**
 * Rewrites stored bit map pages with at most `max` bits as sparse pages (SPARSE_TAG
 * entries, bits in random order, at 16-byte aligned offsets that are mostly not page
 * aligned), each with probability 0.7. Returns what puts the plain pages back.
 */
let sparsePagesMade = 0;

function sparsify(a: Arena, maps: readonly PagedBitmap[], seed: number, max: number): () => void {
  const rng = new Prng(seed);
  const saved: Array<[PagedBitmap, number, number, number]> = [];
  for (const map of new Set(maps)) {
    for (let p = 0; p < map.pages; p++) {
      const entry = map.entry(p);
      if (entry <= ONES_PAGE) continue;
      const bits: number[] = [];
      for (let b = 0; b < PAGE_BLOCKS && bits.length <= max; b++) if (a.u8[entry + (b >>> 3)]! & (1 << (b & 7))) bits.push(b);
      if (bits.length > max || !rng.chance(0.7)) continue;
      for (let i = bits.length - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [bits[i], bits[j]] = [bits[j]!, bits[i]!];
      }
      const block = a.alloc(2 * PAGE_BYTES);
      const at = block + 16 * rng.int(0, (PAGE_BYTES - 16) / 16);
      new DataView(a.u8.buffer).setUint16(at, bits.length, true);
      bits.forEach((b, i) => new DataView(a.u8.buffer).setUint16(at + 2 + 2 * i, b, true));
      map.setEntry(p, at + SPARSE_TAG);
      saved.push([map, p, entry, block]);
      sparsePagesMade++;
    }
  }
  return () => {
    for (const [map, p, entry, block] of saved) {
      map.setEntry(p, entry);
      a.free(block, 2 * PAGE_BYTES);
    }
  };
}

function checkScanCase(c: ScanCase, rngSeed: number, sparse?: { max: number }): void {
  const ref = reference(c);
  const mine = buildScan(arena, c);
  const theirs = buildScan(other, c);
  const unsparse = sparse
    ? [sparsify(arena, mine.bitmaps, rngSeed, sparse.max), sparsify(other, theirs.bitmaps, rngSeed, sparse.max)]
    : [];
  try {
    const batch = batchFor(c, ref.extents.length);
    const opts = { bitmaps: mine.bitmaps, meta: mine.meta, from: c.from, to: c.to, batch };

    // The library stream: batches of at most `batch` extents, never empty, that
    // concatenate to the reference (so no extent is split or repeated across batches).
    const batches = [...scanDelta(opts)];
    for (const b of batches) {
      expect(b.length % 2).toBe(0);
      expect(b.length).toBeGreaterThan(0);
      expect(b.length).toBeLessThanOrEqual(2 * batch);
    }
    const streamed = batches.flatMap(pairs);
    expectSameExtents(streamed, ref.extents, 'scanDelta batches vs reference');
    expect(countDelta(opts)).toBe(ref.count);

    // The kernels called directly, with a tiny capacity and a dirty accumulator.
    const direct = directScan(arena, mine, c, c.cap, new Prng(rngSeed));
    expectSameExtents(direct, ref.extents, 'direct kernel calls vs reference');
    // And with room for many extents (the wasm scan then emits whole words of runs at once).
    const roomy = directScan(arena, mine, c, 100 + (rngSeed % 300), new Prng(rngSeed ^ 1));
    expectSameExtents(roomy, ref.extents, 'direct kernel calls with a large buffer vs reference');

    // The other backend, on identical maps: the same extents and counts, exactly.
    const otherOpts = { bitmaps: theirs.bitmaps, meta: theirs.meta, from: c.from, to: c.to, batch };
    expectSameExtents(deltaExtents(otherOpts), streamed, `${otherBackend} vs ${backend}`);
    expect(countDelta(otherOpts)).toBe(ref.count);
  } finally {
    for (const undo of unsparse) undo();
    mine.free();
    theirs.free();
  }
}

describe(`delta scan (${backend} vs reference and ${otherBackend})`, () => {
  test('scanPlain / popcountPlain: K = 1..64 bit maps, any range, resumed batches', () => {
    fc.assert(fc.property(scanRecipe, (r) => checkScanCase(makeScanCase(r, false), r.seed ^ 0x5eed)), params('plain', 150));
  });

  test('scanMeta / popcountMeta: granularity 0..6, meta maps and the live map, resumed batches', () => {
    fc.assert(fc.property(scanRecipe, (r) => checkScanCase(makeScanCase(r, true), r.seed ^ 0x5eed)), params('meta', 150));
  });

  test('scanMeta over meta maps of several pages (ONES_PAGE / ZERO_PAGE meta pages at every g)', () => {
    // Volumes of 64..160 block pages, so every granularity has whole meta pages
    // that can be sentinels; few checkpoints keep the reference quick.
    const recipe = fc.record({
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
      k: fc.integer({ min: 1, max: 3 }),
      pages: fc.integer({ min: 64, max: 160 }),
      tail: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: PAGE_BLOCKS - 1 })),
      g: fc.integer({ min: 0, max: 6 }),
      range: fc.constantFrom<RangeMode>('whole', 'random', 'page-edges'),
    });
    fc.assert(fc.property(recipe, (r) => {
      const rng = new Prng(r.seed);
      const blocks = r.tail === 0 ? r.pages * PAGE_BLOCKS : (r.pages - 1) * PAGE_BLOCKS + r.tail;
      const [from, to] = pickRange(rng, blocks, r.range);
      const sparse = (bias: 'low' | 'high' | 'any') => ({ ...randomStyle(rng, bias), sentinels: rng.pick([0.9, 0.97, 1]) });
      const metaBits = Math.ceil(blocks / 2 ** r.g);
      const c: ScanCase = {
        blocks, from, to, cap: 4,
        bitmaps: Array.from({ length: r.k }, () => randomMapSpec(rng, blocks, sparse('low'))),
        meta: {
          g: r.g,
          metas: Array.from({ length: r.k }, () => randomMapSpec(rng, metaBits, sparse('high'))),
          live: randomMapSpec(rng, metaBits, sparse('high')),
        },
      };
      checkScanCase(c, r.seed);
    }), params('meta-large', 12));
  });

  test('scanMeta with meta maps all in use but for one to three granules a page', () => {
    // Meta slices that are all ones but a bit must not read as ONES_PAGE (nor all
    // zeros but a bit as ZERO_PAGE): the few granules that differ decide the delta.
    fc.assert(fc.property(scanRecipe, (r) => {
      const rng = new Prng(r.seed);
      const k = 1 + (r.k % 3);
      const blocks = r.tail === 0 ? r.pages * PAGE_BLOCKS : (r.pages - 1) * PAGE_BLOCKS + r.tail;
      const [from, to] = pickRange(rng, blocks, r.range);
      const metaBits = Math.ceil(blocks / 2 ** r.g);
      const nearly = (density: number) => ({ density, pattern: 'few' as const, sentinels: 0.1, uniform: 0.1 });
      const c: ScanCase = {
        blocks, from, to, cap: r.cap,
        bitmaps: Array.from({ length: k }, () => randomMapSpec(rng, blocks, nearly(rng.pick([0, 0, 1])))),
        meta: {
          g: r.g,
          metas: Array.from({ length: k }, () => randomMapSpec(rng, metaBits, nearly(1))),
          live: randomMapSpec(rng, metaBits, nearly(rng.pick([0, 1, 1]))),
        },
      };
      checkScanCase(c, r.seed);
    }), params('meta-few', 80));
  });

  test('one dense bit map against mixed meta and live slices at g = 3 (the K = 1 count loop, and its skip where all granules are in use)', () => {
    // The other properties draw sparse bit maps when meta maps are there; a K = 1 count
    // expands the meta slice only where some granule of 64 bytes is not in use, so the
    // bits it drops must be set for a wrong expansion (or a wrong skip) to show.
    fc.assert(fc.property(scanRecipe, (r) => {
      const rng = new Prng(r.seed);
      const blocks = r.tail === 0 ? r.pages * PAGE_BLOCKS : (r.pages - 1) * PAGE_BLOCKS + r.tail;
      const [from, to] = pickRange(rng, blocks, r.range);
      const metaBits = Math.ceil(blocks / 8);
      const style = (densities: number[]) => ({
        density: rng.pick(densities), pattern: rng.pick(['scattered', 'clustered', 'few'] as const), sentinels: 0.1, uniform: 0.1,
      });
      const c: ScanCase = {
        blocks, from, to, cap: r.cap,
        bitmaps: [randomMapSpec(rng, blocks, style([0.1, 0.5, 0.9, 0.99]))],
        meta: {
          g: 3,
          metas: [randomMapSpec(rng, metaBits, style([0.5, 0.9, 0.99, 0.9995]))],
          live: randomMapSpec(rng, metaBits, style([0.9, 0.99, 0.9995, 1])),
        },
      };
      checkScanCase(c, r.seed);
    }), params('one-map-g3', 40));
  });

  test('sparse bit map pages (u16 bit lists behind SPARSE_TAG entries) mixed with stored pages and sentinels, plain and meta', () => {
    fc.assert(fc.property(scanRecipe, fc.boolean(), fc.constantFrom(1, 16, 300, SPARSE_MAX), (r, withMeta, max) => {
      checkScanCase(makeScanCase(r, withMeta), r.seed, { max });
    }), params('sparse-pages', 40));
    expect(sparsePagesMade, 'the cases had pages to make sparse').toBeGreaterThan(40);
  });

  test('more checkpoints than one list of the wasm kernels holds (K = 513..1100): the OR goes through the accumulator between groups', () => {
    fc.assert(fc.property(scanRecipe, fc.integer({ min: 513, max: 1100 }), fc.boolean(), (r, k, withMeta) => {
      const rng = new Prng(r.seed);
      const blocks = PAGE_BLOCKS + 1 + (r.tail % 2000);
      const [from, to] = pickRange(rng, blocks, r.range);
      const nearly = (density: number) => ({ density, pattern: 'few' as const, sentinels: 0.1, uniform: 0.1 });
      const metaBits = Math.ceil(blocks / 2 ** r.g);
      const c: ScanCase = {
        blocks, from, to, cap: r.cap,
        bitmaps: Array.from({ length: k }, () => randomMapSpec(rng, blocks, nearly(0))),
        meta: withMeta
          ? { g: r.g, metas: Array.from({ length: k }, () => randomMapSpec(rng, metaBits, nearly(1))), live: randomMapSpec(rng, metaBits, nearly(1)) }
          : undefined,
      };
      checkScanCase(c, r.seed);
    }), params('many-checkpoints', 4));
  });

  test('hand-picked edges: runs across pages, words and chunks; runs ending at the range end', () => {
    const blocks = 3 * PAGE_BLOCKS + 100;
    const runs: Extent[] = [
      [0, 1], [31, 2], [63, 3], [127, 2], [200, 64], [PAGE_BLOCKS - 1, 2], [2 * PAGE_BLOCKS - 64, PAGE_BLOCKS + 64 + 5],
      [3 * PAGE_BLOCKS + 99, 1],
    ];
    const spec = mapSpecOf(blocks, ['stored', 'stored', 'stored', 'stored'], (page, p) => {
      for (const [s, l] of runs) {
        for (let b = s; b < s + l; b++) if (b >> 15 === p) page[(b & (PAGE_BLOCKS - 1)) >> 3]! |= 1 << (b & 7);
      }
    });
    for (const [from, to] of [[0, blocks], [1, blocks - 1], [32, 64], [PAGE_BLOCKS, 2 * PAGE_BLOCKS], [130, 201], [0, 0]] as const) {
      for (const cap of [1, 2, 3, 100]) checkScanCase({ blocks, from, to, bitmaps: [spec], cap }, from * 7 + cap);
    }
  });

  test('pages of one run a word and of 32 (alternating bits), mixed within a page and page after page, at every room left', () => {
    // The wasm scan walks a page by its words that hold run edges unless the page
    // before gave many extents; either walk may run out of room mid-page, and one
    // that wrote a word of 32 runs with less room than that would write past the buffer.
    const oneRun = 0x20n; // bit 5: one run a word
    const alternating = 0x5555555555555555n;
    const layouts: Array<(word: number) => bigint> = [
      (w) => (w < 70 ? oneRun : alternating),
      () => alternating,
      () => oneRun,
      (w) => (w % 3 === 0 ? alternating : w % 3 === 1 ? oneRun : 0n),
      (w) => (w < 300 ? 0xffffffffffffffffn : alternating),
    ];
    const blocks = layouts.length * PAGE_BLOCKS;
    const spec = mapSpecOf(blocks, layouts.map(() => 'stored' as const), (page, p) => {
      const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
      for (let w = 0; w < PAGE_BYTES / 8; w++) view.setBigUint64(w * 8, layouts[p]!(w), true);
    });
    for (const cap of [33, 36, 64, 65, 66, 100, 130, 160, 20000]) {
      checkScanCase({ blocks, from: 0, to: blocks, bitmaps: [spec], cap }, cap);
    }
  });
});

// ---------------------------------------------------------------------------------
// OR-merge

/** An entry after a merge, named so that both arenas can be compared. */
function mergeOutcome(entry: number, before: number, from: number): string {
  if (entry === ZERO_PAGE) return 'zero';
  if (entry === ONES_PAGE) return 'ones';
  if (entry === before) return 'kept';
  if (entry === from) return 'adopted';
  return `other:${entry}`;
}

interface MergeResult {
  changed: number;
  outcomes: string[];
  bits: Bits;
}

function expectSameMerge(theirs: MergeResult, mine: MergeResult): void {
  expect({ changed: theirs.changed, outcomes: theirs.outcomes }).toEqual({ changed: mine.changed, outcomes: mine.outcomes });
  expectSameBytes(theirs.bits, mine.bits, `merged bits, ${otherBackend} vs ${backend}`);
}

/**
 * Runs orMerge on maps built from the specs in `a`, checks the per-entry contract,
 * frees what the caller must free, and returns what happened.
 */
function runMerge(a: Arena, dstSpec: MapSpec, srcSpec: MapSpec): MergeResult {
  const dst = buildMap(a, dstSpec);
  const src = buildMap(a, srcSpec);
  const pages = dst.pages;
  const intoBefore = Array.from({ length: pages }, (_, p) => dst.entry(p));
  const fromBefore = Array.from({ length: pages }, (_, p) => src.entry(p));
  const dstPagesBefore = readMapPages(dst);
  const srcPagesBefore = readMapPages(src);
  const dstBits = readMapBits(dst);
  const srcBits = readMapBits(src);

  const changed = a.kernels.orMerge(dst.table, src.table, pages);

  const outcomes: string[] = [];
  let differ = 0;
  const after = readMapPages(dst);
  for (let p = 0; p < pages; p++) {
    const into = intoBefore[p]!, from = fromBefore[p]!, entry = dst.entry(p);
    if (entry !== into) differ++;
    outcomes.push(mergeOutcome(entry, into, from));
    const page = (bytes: Uint8Array) => bytes.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES);
    // The src table is only read.
    expect(src.entry(p)).toBe(from);
    if (from === ZERO_PAGE || into === ONES_PAGE) {
      expect(entry).toBe(into);
      expectSameBytes(page(after), page(dstPagesBefore), `unchanged dst page ${p}`);
    } else if (from === ONES_PAGE) {
      expect(entry).toBe(ONES_PAGE);
    } else if (into === ZERO_PAGE) {
      expect(entry).toBe(from); // adopted: the dst table now names the src page
      expectSameBytes(page(after), page(srcPagesBefore), `adopted page ${p}`);
    } else {
      const or = page(dstPagesBefore).map((x, i) => x | page(srcPagesBefore)[i]!);
      if (or.every((x) => x === 0xff)) expect(entry).toBe(ONES_PAGE);
      else {
        expect(entry).toBe(into);
        expectSameBytes(page(after), or, `ORed page ${p}`);
      }
      // The src page is read, not written.
      expectSameBytes(a.u8.subarray(from, from + PAGE_BYTES), page(srcPagesBefore), `src page ${p}`);
    }
  }
  expect(changed).toBe(differ);
  const bits = readMapBits(dst);
  expectSameBytes(bits, refOr(dstBits, srcBits), 'merged bits vs reference');

  // The caller frees what is no longer named: dst pages replaced, src pages not adopted.
  for (let p = 0; p < pages; p++) {
    const into = intoBefore[p]!, entry = dst.entry(p);
    if (into > ONES_PAGE && entry !== into) a.freePage(into);
    if (entry === fromBefore[p] && entry > ONES_PAGE) src.setEntry(p, ZERO_PAGE);
  }
  dst.free();
  src.free();
  return { changed, outcomes, bits };
}

/**
 * A src map whose stored pages are the complement of dst's, less a few holes, so the
 * OR of two stored pages is all ones or all ones but a bit or two anywhere.
 */
function complementWithHoles(rng: Prng, dst: MapSpec): MapSpec {
  return mapSpecOf(dst.bits, dst.kinds.map(() => 'stored'), (page, p, inPage) => {
    const from = dst.data.subarray(p * PAGE_BYTES, (p + 1) * PAGE_BYTES);
    for (let i = 0; i < PAGE_BYTES; i++) page[i] = ~from[i]! & 0xff;
    for (let h = rng.pick([0, 0, 1, 1, 2, 3]); h > 0; h--) {
      const b = rng.int(0, Math.max(0, inPage - 1));
      page[b >> 3]! &= ~(1 << (b & 7));
    }
  });
}

describe(`orMerge (${backend} vs reference and ${otherBackend})`, () => {
  test('dst |= src over random page tables; adoption, ONES on full results, changed-entry count', () => {
    const recipe = fc.record({
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
      pages: fc.integer({ min: 1, max: 12 }),
      tail: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: PAGE_BLOCKS - 1 })),
      complement: fc.boolean(),
    });
    fc.assert(fc.property(recipe, (r) => {
      const rng = new Prng(r.seed);
      const bits = r.tail === 0 ? r.pages * PAGE_BLOCKS : (r.pages - 1) * PAGE_BLOCKS + r.tail;
      const dstSpec = randomMapSpec(rng, bits, randomStyle(rng));
      const srcSpec = r.complement ? complementWithHoles(rng, dstSpec) : randomMapSpec(rng, bits, randomStyle(rng));
      const mine = runMerge(arena, dstSpec, srcSpec);
      const theirs = runMerge(other, dstSpec, srcSpec);
      expectSameMerge(mine, theirs);
    }), params('or-merge', 200));
  });

  test('every pair of entry kinds, including stored pages that OR to all ones', () => {
    const kinds = ['zero', 'ones', 'stored-zero', 'stored-ones', 'stored', 'half-a', 'half-b'] as const;
    const pairsOf = kinds.flatMap((d) => kinds.map((s) => [d, s] as const));
    const toSpec = (list: ReadonlyArray<(typeof kinds)[number]>) => mapSpecOf(list.length * PAGE_BLOCKS,
      list.map((k) => (k === 'half-a' || k === 'half-b' ? 'stored' : k)), (page, p) => {
        // Complementary halves: OR of half-a and half-b is all ones.
        const k = list[p];
        for (let i = 0; i < PAGE_BYTES; i++) page[i] = k === 'half-a' ? (i % 2 ? 0xf0 : 0x0f) : k === 'half-b' ? (i % 2 ? 0x0f : 0xf0) : 0x11;
      });
    const dstSpec = toSpec(pairsOf.map(([d]) => d));
    const srcSpec = toSpec(pairsOf.map(([, s]) => s));
    const mine = runMerge(arena, dstSpec, srcSpec);
    expectSameMerge(mine, runMerge(other, dstSpec, srcSpec));
    const at = (d: string, s: string) => mine.outcomes[pairsOf.findIndex(([x, y]) => x === d && y === s)];
    expect(at('half-a', 'half-b')).toBe('ones');
    expect(at('stored', 'stored')).toBe('kept');
    expect(at('zero', 'stored')).toBe('adopted');
    expect(at('zero', 'stored-ones')).toBe('adopted');
    expect(at('stored', 'ones')).toBe('ones');
    expect(at('ones', 'stored')).toBe('ones');
    expect(at('stored-ones', 'stored-zero')).toBe('ones');
    expect(at('stored-zero', 'zero')).toBe('kept');
  });
});

// ---------------------------------------------------------------------------------
// Granularity expand / shrink

/** Random bytes for a flat bit map, in one of the map styles. */
function randomBytes(rng: Prng, bytes: number): Uint8Array {
  const spec = randomMapSpec(rng, bytes * 8, randomStyle(rng));
  return spec.data.slice(0, bytes);
}

interface FlatResult {
  ret: number;
  out: Uint8Array;
}

const GUARD = 48;

function expectSameFlat(theirs: FlatResult, mine: FlatResult): void {
  expect(theirs.ret).toBe(mine.ret);
  expectSameBytes(theirs.out, mine.out, `${otherBackend} vs ${backend}`);
}

/**
 * Runs a flat kernel (expand / shrink) in `a` with src at srcShift and dst at dstShift
 * bytes into fresh runs; checks src is unchanged and the bytes around dst untouched.
 */
function runFlat(a: Arena, kernel: 'granularityExpand' | 'granularityShrink', src: Uint8Array, srcShift: number,
  dstBytes: number, dstShift: number, g: number): FlatResult {
  const srcRun = src.length + srcShift + GUARD;
  const dstRun = dstBytes + dstShift + 2 * GUARD;
  const s = a.alloc(srcRun);
  const d = a.alloc(dstRun);
  try {
    a.u8.set(src, s + srcShift);
    a.u8.fill(0x5a, d, d + dstRun);
    const ret = a.kernels[kernel](s + srcShift, d + GUARD + dstShift, dstBytes, g);
    expectSameBytes(a.u8.subarray(s + srcShift, s + srcShift + src.length), src, 'src unchanged');
    const before = a.u8.subarray(d, d + GUARD + dstShift);
    const after = a.u8.subarray(d + GUARD + dstShift + dstBytes, d + dstRun);
    expect(before.every((x) => x === 0x5a) && after.every((x) => x === 0x5a)).toBe(true);
    return { ret, out: a.u8.slice(d + GUARD + dstShift, d + GUARD + dstShift + dstBytes) };
  } finally {
    a.free(s, srcRun);
    a.free(d, dstRun);
  }
}

describe(`granularity expand / shrink (${backend} vs reference and ${otherBackend})`, () => {
  test('granularityExpand: bit k = src bit k >> g; returns the set bits written', () => {
    const recipe = fc.record({
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
      g: fc.integer({ min: 0, max: 6 }),
      kib: fc.integer({ min: 1, max: 12 }),
      srcShift: fc.integer({ min: 0, max: 3 }).map((x) => x * 16),
      dstShift: fc.integer({ min: 0, max: 3 }).map((x) => x * 16),
    });
    fc.assert(fc.property(recipe, (r) => {
      const rng = new Prng(r.seed);
      const dstBytes = r.kib * 1024;
      const src = randomBytes(rng, dstBytes >> r.g);
      const want = refExpand(bytesToBits(src), r.g, dstBytes * 8);
      const mine = runFlat(arena, 'granularityExpand', src, r.srcShift, dstBytes, r.dstShift, r.g);
      expectSameBytes(mine.out, bitsToBytes(want), 'expanded vs reference');
      expect(mine.ret).toBe(popcountBits(want));
      expectSameFlat(runFlat(other, 'granularityExpand', src, r.srcShift, dstBytes, r.dstShift, r.g), mine);
    }), params('expand', 200));
  });

  test('granularityShrink: bit k = OR of src bits [k << g, (k + 1) << g); returns the set bits written', () => {
    const recipe = fc.record({
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
      g: fc.integer({ min: 0, max: 6 }),
      chunks: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 96 })),
      srcShift: fc.integer({ min: 0, max: 3 }).map((x) => x * 16),
      dstShift: fc.integer({ min: 0, max: 3 }).map((x) => x * 16),
    });
    fc.assert(fc.property(recipe, (r) => {
      const rng = new Prng(r.seed);
      const dstBytes = r.chunks * 16;
      const src = randomBytes(rng, dstBytes << r.g);
      const want = refShrink(bytesToBits(src), r.g, dstBytes * 8);
      const mine = runFlat(arena, 'granularityShrink', src, r.srcShift, dstBytes, r.dstShift, r.g);
      expectSameBytes(mine.out, bitsToBytes(want), 'shrunk vs reference');
      expect(mine.ret).toBe(popcountBits(want));
      expectSameFlat(runFlat(other, 'granularityShrink', src, r.srcShift, dstBytes, r.dstShift, r.g), mine);
    }), params('shrink', 200));
  });

  test('expand then shrink at the same g gives the map back', () => {
    const rng = new Prng(seedFor('round-trip'));
    for (let g = 0; g <= 6; g++) {
      const dstBytes = 4096;
      const src = randomBytes(rng, dstBytes >> g);
      const wide = runFlat(arena, 'granularityExpand', src, 0, dstBytes, 0, g);
      const back = runFlat(arena, 'granularityShrink', wide.out, 0, dstBytes >> g, 0, g);
      expectSameBytes(back.out, src, `round trip at g=${g}`);
      expect(back.ret * 2 ** g).toBe(wide.ret);
    }
  });
});

// ---------------------------------------------------------------------------------
// Page-table gather

describe(`gatherPages (${backend} vs reference and ${otherBackend})`, () => {
  function runGather(a: Arena, spec: MapSpec, first: number, pages: number, shift: number): FlatResult {
    const map = buildMap(a, spec);
    const bytes = pages * PAGE_BYTES;
    const run = bytes + shift + 2 * GUARD;
    const d = a.alloc(run);
    try {
      a.u8.fill(0x5a, d, d + run);
      const ret = a.kernels.gatherPages(map.table, first, pages, d + GUARD + shift);
      const around = [...a.u8.subarray(d, d + GUARD + shift), ...a.u8.subarray(d + GUARD + shift + bytes, d + run)];
      expect(around.every((x) => x === 0x5a)).toBe(true);
      // The map is only read.
      expectSameBytes(readMapPages(map), spec.data, 'map unchanged');
      return { ret, out: a.u8.slice(d + GUARD + shift, d + GUARD + shift + bytes) };
    } finally {
      a.free(d, run);
      map.free();
    }
  }

  test('pages [first, first + pages) as flat bytes, sentinels written; returns stored pages read', () => {
    const recipe = fc.record({
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
      pages: fc.integer({ min: 1, max: 10 }),
      tail: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: PAGE_BLOCKS - 1 })),
      a: fc.nat(), b: fc.nat(),
      shift: fc.integer({ min: 0, max: 64 }),
    });
    fc.assert(fc.property(recipe, (r) => {
      const rng = new Prng(r.seed);
      const bits = r.tail === 0 ? r.pages * PAGE_BLOCKS : (r.pages - 1) * PAGE_BLOCKS + r.tail;
      const spec = randomMapSpec(rng, bits, randomStyle(rng));
      const total = pagesFor(bits);
      const first = r.a % total;
      const pages = r.b % (total - first + 1);
      const mine = runGather(arena, spec, first, pages, r.shift);
      expectSameBytes(mine.out, spec.data.subarray(first * PAGE_BYTES, (first + pages) * PAGE_BYTES), 'gathered vs reference');
      const stored = spec.kinds.slice(first, first + pages).filter((k) => k !== 'zero' && k !== 'ones').length;
      expect(mine.ret).toBe(stored);
      expectSameFlat(runGather(other, spec, first, pages, r.shift), mine);
    }), params('gather', 150));
  });
});
