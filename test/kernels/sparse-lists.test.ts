// The scan and count kernels on pages whose bit map pages are all sparse (worked from
// the u16 lists, assembly/lib/sparse-lists.ts and its TS twin), mixed with stored
// pages, or all stored, against a plain per-bit model: every K from 1 to 20, plain
// and meta-aware at g = 0 and 3, whole and partial ranges, resumed scans with tiny
// and roomy output buffers, and a dirty accumulator before every call.
//
// Seeded: replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/kernels/sparse-lists.test.ts.

import { afterAll, describe, expect, test } from 'vitest';
import { ACC_BYTES, type Arena, ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, ZERO_PAGE } from '../../src/index.js';
import { SPARSE_TAG } from '../../src/kernels/api.js';
import { backend, newArena } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { type Bits, type Extent, type RefMeta, changedMeta, changedPlain, expectSameExtents } from '../helpers/reference.js';

const SEED = testSeed('sparse-lists');
const arena = newArena();
/** What the accumulator holds before every kernel call (random, from the seed). */
const DIRT = new Prng(SEED).fill(new Uint8Array(ACC_BYTES));
/** What lies past every output buffer, and must still lie there after each call. */
const GUARD_BYTES = 8 * 4096;
const GUARD = new Prng(SEED ^ 0x5a5a).fill(new Uint8Array(GUARD_BYTES));

/** The first byte of `want` that memory at `at` no longer holds, else -1. */
function firstChange(mem: Uint8Array, at: number, want: Uint8Array): number {
  for (let i = 0; i < want.length; i++) if (mem[at + i] !== want[i]) return i;
  return -1;
}

afterAll(() => {
  expect(arena.stats().bytesInUse, 'every run given back').toBe(0);
});

type PageKind = 'sparse-only' | 'mixed' | 'dense';

/** Arena runs a case holds, given back at its end. */
class Runs {
  readonly held: Array<[number, number]> = [];
  constructor(readonly a: Arena) {}
  alloc(bytes: number): number {
    const at = this.a.alloc(bytes);
    this.held.push([at, bytes]);
    return at;
  }
  free(): void {
    for (const [at, bytes] of this.held) this.a.free(at, bytes);
  }
}

/**
 * Distinct bit numbers within a page: scattered, in short runs, at word and page edges,
 * or every other bit (32 runs a word: the most a list can give the scan to write).
 */
function pageBits(rng: Prng, n: number): number[] {
  const set = new Set<number>();
  const style = rng.int(0, 3);
  if (style === 3) {
    const start = rng.int(0, PAGE_BLOCKS - 1);
    for (let b = start; set.size < n; b = (b + 2) % PAGE_BLOCKS) set.add(b);
    return [...set];
  }
  while (set.size < n) {
    if (style === 0) set.add(rng.int(0, PAGE_BLOCKS - 1));
    else if (style === 1) {
      const start = rng.int(0, PAGE_BLOCKS - 1);
      for (let b = start; b < Math.min(PAGE_BLOCKS, start + rng.int(1, 80)) && set.size < n; b++) set.add(b);
    } else if (rng.chance(0.5)) {
      set.add(rng.int(0, PAGE_BLOCKS - 1));
    } else {
      const edge = rng.pick([0, 31, 32, 63, 64, 127, 128, PAGE_BLOCKS - 65, PAGE_BLOCKS - 64, PAGE_BLOCKS - 1]);
      set.add(Math.min(PAGE_BLOCKS - 1, edge + rng.int(0, 2)));
    }
  }
  return [...set];
}

/** Bits a sparse page holds: mostly a few, now and then enough to pass the lists' limit together. */
function sparseCountOf(rng: Prng): number {
  const r = rng.float();
  if (r < 0.6) return rng.int(1, 6);
  if (r < 0.9) return rng.int(7, 60);
  return rng.int(61, 400);
}

/** Writes a sparse page of `bits` (sorted or not) at a 16-byte aligned offset; returns its entry. */
function sparseEntry(runs: Runs, rng: Prng, bits: number[]): number {
  const list = rng.chance(0.6) ? [...bits].sort((x, y) => x - y) : bits;
  const slot = runs.alloc(PAGE_BYTES) + 16 * rng.int(0, 8);
  const view = new DataView(runs.a.u8.buffer);
  view.setUint16(slot, list.length, true);
  list.forEach((b, i) => view.setUint16(slot + 2 + 2 * i, b, true));
  return slot + SPARSE_TAG;
}

/** A stored page holding `bits`. */
function densePage(runs: Runs, bits: Iterable<number>): number {
  const page = runs.alloc(PAGE_BYTES);
  runs.a.u8.fill(0, page, page + PAGE_BYTES);
  for (const b of bits) runs.a.u8[page + (b >>> 3)]! |= 1 << (b & 7);
  return page;
}

/** A bit map of `pages` pages whose page p takes the form kinds[p] says; its model is set bit by bit. */
function buildBitmap(runs: Runs, rng: Prng, kinds: readonly PageKind[], blocks: number): { table: number; bits: Bits } {
  const table = runs.alloc(4 * kinds.length);
  const bits = new Uint8Array(blocks);
  kinds.forEach((kind, p) => {
    const form = kind === 'sparse-only' ? rng.pick(['zero', 'sparse', 'sparse', 'sparse'])
      : kind === 'dense' ? (rng.chance(0.03) ? 'ones' : 'dense')
      : rng.pick(['zero', 'sparse', 'dense', 'sparse', rng.chance(0.1) ? 'ones' : 'zero']);
    let entry = ZERO_PAGE;
    let set: number[] = [];
    if (form === 'ones') {
      entry = ONES_PAGE;
      set = Array.from({ length: PAGE_BLOCKS }, (_, i) => i);
    } else if (form === 'sparse') {
      set = pageBits(rng, sparseCountOf(rng));
      entry = sparseEntry(runs, rng, set);
    } else if (form === 'dense') {
      set = pageBits(rng, rng.pick([1, 40, 2000]));
      entry = densePage(runs, set);
    }
    runs.a.u32[(table >>> 2) + p] = entry;
    for (const b of set) if (p * PAGE_BLOCKS + b < blocks) bits[p * PAGE_BLOCKS + b] = 1;
  });
  return { table, bits };
}

/** A meta map at granularity g: pages all in use, none in use, or in use but for some granules. */
function buildMeta(runs: Runs, rng: Prng, metaBits: number, zeroChance: number): { table: number; bits: Bits } {
  const pages = Math.ceil(metaBits / PAGE_BLOCKS);
  const table = runs.alloc(4 * pages);
  const bits = new Uint8Array(metaBits);
  for (let p = 0; p < pages; p++) {
    const r = rng.float();
    let entry: number;
    const page = new Uint8Array(PAGE_BLOCKS);
    if (r < zeroChance) entry = ZERO_PAGE;
    else if (r < 0.45) {
      entry = ONES_PAGE;
      page.fill(1);
    } else {
      page.fill(1);
      // Stored: all in use (reads as ONES), or a few granules out of use, or many.
      const holes = rng.pick([0, rng.int(1, 4), rng.int(5, 300), 20000]);
      for (let i = 0; i < holes; i++) page[rng.int(0, PAGE_BLOCKS - 1)] = 0;
      const set: number[] = [];
      page.forEach((v, i) => v && set.push(i));
      entry = densePage(runs, set);
    }
    runs.a.u32[(table >>> 2) + p] = entry;
    for (let i = 0; i < PAGE_BLOCKS && p * PAGE_BLOCKS + i < metaBits; i++) bits[p * PAGE_BLOCKS + i] = page[i]!;
  }
  return { table, bits };
}

interface Case {
  k: number;
  g: number;
  blocks: number;
  tables: number[];
  metas: number[];
  live: number;
  /** The model: changed(b) for every block, from the per-bit definition (FIG. 34 / 40). */
  changed: Bits;
}

function buildCase(runs: Runs, rng: Prng, k: number, g: number): Case {
  const pages = rng.int(1, 4);
  const blocks = pages * PAGE_BLOCKS - (rng.chance(0.5) ? rng.int(1, PAGE_BLOCKS - 1) : 0);
  // Mostly sparse-only pages (the lists), some mixed and some dense (the accumulator).
  const kinds = Array.from({ length: pages }, () => rng.pick<PageKind>(['sparse-only', 'sparse-only', 'mixed', 'dense']));
  const maps: Array<{ table: number; bits: Bits }> = [];
  // Now and then a map is listed twice: the same bits in two lists count once.
  for (let i = 0; i < k; i++) maps.push(maps.length > 0 && rng.chance(0.1) ? rng.pick(maps) : buildBitmap(runs, rng, kinds, blocks));
  const c: Case = { k, g, blocks, tables: maps.map((m) => m.table), metas: [], live: 0, changed: new Uint8Array(blocks) };
  let meta: RefMeta | undefined;
  if (g >= 0) {
    const metaBits = Math.ceil(blocks / 2 ** g);
    const metas = Array.from({ length: k }, () => buildMeta(runs, rng, metaBits, 0.02));
    const live = buildMeta(runs, rng, metaBits, 0.1);
    c.metas = metas.map((m) => m.table);
    c.live = live.table;
    meta = { g, metas: metas.map((m) => m.bits), live: live.bits };
  }
  const bits = maps.map((m) => m.bits);
  for (let b = 0; b < blocks; b++) c.changed[b] = (meta ? changedMeta(bits, meta, b) : changedPlain(bits, b)) ? 1 : 0;
  return c;
}

function modelRuns(changed: Bits, from: number, to: number): { extents: Extent[]; count: number } {
  const extents: Extent[] = [];
  let count = 0;
  let start = -1;
  for (let b = from; b < to; b++) {
    if (changed[b]) {
      count++;
      if (start < 0) start = b;
    } else if (start >= 0) {
      extents.push([start, b - start]);
      start = -1;
    }
  }
  if (start >= 0) extents.push([start, to - start]);
  return { extents, count };
}

function pickRange(rng: Prng, blocks: number): [number, number] {
  const mode = rng.int(0, 3);
  if (mode === 0) return [0, blocks];
  const near = (unit: number) => Math.max(0, Math.min(blocks, unit * rng.int(0, Math.ceil(blocks / unit)) + rng.int(-1, 1)));
  const unit = mode === 1 ? 1 : mode === 2 ? 64 : PAGE_BLOCKS;
  const a = near(unit), b = near(unit);
  return a <= b ? [a, b] : [b, a];
}

/** The kernels called directly over [from, to): all extents (resumed until done) and the count. */
function runKernels(runs: Runs, c: Case, from: number, to: number, capacity: number): { extents: Extent[]; count: number } {
  const a = runs.a;
  const lists = runs.alloc(8 * c.k + 16);
  const tables = lists, metas = lists + 4 * c.k, cursor = lists + 8 * c.k;
  // Past the scratch and past the buffer: guards the kernels must never write.
  const acc = runs.alloc(ACC_BYTES + 64);
  const accGuard = GUARD.subarray(0, 64);
  a.u8.set(accGuard, acc + ACC_BYTES);
  const out = runs.alloc(8 * capacity + GUARD_BYTES);
  a.u8.set(GUARD, out + 8 * capacity);
  c.tables.forEach((t, i) => (a.u32[(tables >>> 2) + i] = t));
  c.metas.forEach((t, i) => (a.u32[(metas >>> 2) + i] = t));
  const extents: Extent[] = [];
  for (let at = from, calls = 0; ; calls++) {
    a.u8.set(DIRT, acc); // the kernels must not rely on a clean accumulator
    const n = c.g >= 0
      ? a.kernels.scanMeta(tables, metas, c.k, c.live, c.g, at, to, out, capacity, cursor, acc)
      : a.kernels.scanPlain(tables, c.k, at, to, out, capacity, cursor, acc);
    expect(firstChange(a.u8, out + 8 * capacity, GUARD), 'nothing written past the buffer').toBe(-1);
    expect(firstChange(a.u8, acc + ACC_BYTES, accGuard), 'nothing written past the scratch').toBe(-1);
    for (let i = 0; i < n; i++) extents.push([a.u32[(out >>> 2) + 2 * i]!, a.u32[(out >>> 2) + 2 * i + 1]!]);
    const next = a.u32[cursor >>> 2]!;
    if (next === to) break;
    expect(n, 'a scan stops early only with a full buffer').toBe(capacity);
    expect(next, 'and resumes past where it was').toBeGreaterThan(at);
    expect(calls).toBeLessThan(200000);
    at = next;
  }
  a.u8.set(DIRT, acc);
  const count = c.g >= 0
    ? a.kernels.popcountMeta(tables, metas, c.k, c.live, c.g, from, to, acc)
    : a.kernels.popcountPlain(tables, c.k, from, to, acc);
  expect(firstChange(a.u8, acc + ACC_BYTES, accGuard), 'nothing written past the scratch').toBe(-1);
  return { extents, count };
}

describe(`delta kernels on sparse, mixed and dense pages (${backend}) against the per-bit model`, () => {
  for (const g of [-1, 0, 3]) {
    test(`${g < 0 ? 'plain' : `meta-aware, g = ${g}`}: K = 1..20, whole and partial ranges, resumed scans`, () => {
      const rng = new Prng(SEED ^ (g + 7) * 0x9e3779b1);
      let cases = 0;
      for (let k = 1; k <= 20; k++) {
        for (let rep = 0; rep < 3; rep++) {
          const runs = new Runs(arena);
          try {
            const c = buildCase(runs, rng, k, g);
            for (let r = 0; r < 3; r++) {
              const [from, to] = pickRange(rng, c.blocks);
              const want = modelRuns(c.changed, from, to);
              const what = `seed ${SEED}, K = ${k}, g = ${g}, case ${cases}, [${from}, ${to})`;
              // Tiny buffers resume at every extent or few: at most ~300 calls a scan. A
              // middling one runs out of room mid-page, where words of many runs are left.
              const small = Math.ceil(want.extents.length / 300);
              for (const capacity of [Math.max(1, small), Math.max(3, small + 2), 300, 4096]) {
                const got = runKernels(runs, c, from, to, capacity);
                expectSameExtents(got.extents, want.extents, `${what}, capacity ${capacity}: extents`);
                expect(got.count, `${what}: count`).toBe(want.count);
              }
            }
            cases++;
          } finally {
            runs.free();
          }
        }
      }
      expect(cases).toBe(60);
    });
  }
});
