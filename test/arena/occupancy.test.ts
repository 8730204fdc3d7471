// The second level over page tables (src/arena/occupancy.ts) and what rests on it:
// walkStored against a plain list of pages, and PagedBitmap's occupancy and kept page
// counts against its own table and a model through every kind of write.

import { describe, expect, test } from 'vitest';
import { PAGE_RUNS_DENSE, PAGE_RUNS_FEW, PAGE_RUNS_LIMIT } from '../../src/arena/kept-runs.js';
import { Occupancy, walkStored } from '../../src/arena/occupancy.js';
import { isSparse } from '../../src/arena/sparse-page.js';
import { ACC_BYTES, ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, PagedBitmap, ZERO_PAGE, countDelta, deltaExtents } from '../../src/index.js';
import { backend, newArena } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { popcountBits, refScan } from '../helpers/reference.js';

type Report = ['shared', number, number] | ['single', number, number];

/** What walkStored reports, page by page: a model that looks at every entry of every map. */
function modelWalk(stored: readonly Uint8Array[], first: number, end: number): Array<[number, number]> {
  const pages: Array<[number, number]> = [];
  for (let p = first; p < end; p++) {
    const holders = stored.flatMap((s, i) => (s[p] ? [i] : []));
    if (holders.length > 0) pages.push([p, holders.length === 1 ? holders[0]! : -1]);
  }
  return pages;
}

function walk(maps: readonly Occupancy[], first: number, end: number): Report[] {
  const reports: Report[] = [];
  walkStored(maps, first, end, {
    shared: (from, to) => reports.push(['shared', from, to]),
    single: (page, only) => reports.push(['single', page, only]),
  });
  return reports;
}

/** The reports as pages, checking on the way that shared runs never cross a word and come in order. */
function pagesOf(reports: readonly Report[]): Array<[number, number]> {
  const pages: Array<[number, number]> = [];
  for (const [kind, a, b] of reports) {
    if (kind === 'single') pages.push([a, b]);
    else {
      expect(b).toBeGreaterThan(a);
      expect((b - 1) >>> 5, `run [${a}, ${b}) stays in one word`).toBe(a >>> 5);
      for (let p = a; p < b; p++) pages.push([p, -1]);
    }
  }
  return pages;
}

/** A stored page's entry, as far as an Occupancy cares. */
const STORED = 0x10000;

/** The map's two second levels as recomputed from its page table. */
function expectOccupancyOfTable(map: PagedBitmap, label: string): void {
  const at = map.table >>> 2;
  const table = map.arena.u32.subarray(at, at + map.pages);
  for (const [level, sentinel] of [[map.stored, ZERO_PAGE], [map.notFull, ONES_PAGE]] as const) {
    const fresh = new Occupancy(map.pages, sentinel);
    fresh.rebuild(table);
    expect([...level.words], `${label}, entries other than ${sentinel}`).toEqual([...fresh.words]);
    expect([...level.groups], `${label}, entries other than ${sentinel}`).toEqual([...fresh.groups]);
  }
}

describe('walkStored', () => {
  test('reports exactly the stored pages of random occupancies, in order, with the one map that holds each', () => {
    const seed = testSeed('occupancy');
    const rng = new Prng(seed);
    for (let round = 0; round < 150; round++) {
      const pages = rng.pick([1, 31, 32, 33, 1023, 1024, 1025, 3000, 33000]);
      const k = rng.int(1, 5);
      const density = rng.pick([0.001, 0.05, 0.5, 0.97, 1]);
      const stored = Array.from({ length: k }, () => {
        const s = new Uint8Array(pages);
        // Runs as well as single pages, so words fill up whole sometimes.
        for (let p = 0; p < pages; p++) s[p] = rng.chance(density) ? 1 : 0;
        if (rng.chance(0.3)) s.fill(1, rng.int(0, pages - 1), rng.int(0, pages));
        return s;
      });
      const maps = stored.map((s) => {
        const o = new Occupancy(pages, ZERO_PAGE);
        s.forEach((v, p) => { if (v) o.note(p, STORED); });
        // Notes that take a page back out keep both levels right.
        for (let n = 0; n < 3; n++) {
          const p = rng.int(0, pages - 1);
          o.note(p, ZERO_PAGE);
          s[p] = 0;
        }
        return o;
      });
      const first = rng.chance(0.5) ? 0 : rng.int(0, pages - 1);
      const end = rng.chance(0.5) ? pages : rng.int(first, pages);
      const label = `seed ${seed} round ${round}: ${k} maps of ${pages} pages, [${first}, ${end})`;
      expect(pagesOf(walk(maps, first, end)), label).toEqual(modelWalk(stored, first, end));
    }
  });

  test('a word whose pages every map stores is one report, not 32', () => {
    const a = new Occupancy(64, ZERO_PAGE);
    const b = new Occupancy(64, ZERO_PAGE);
    for (let p = 0; p < 64; p++) {
      a.note(p, STORED);
      b.note(p, STORED);
    }
    expect(walk([a, b], 0, 64)).toEqual([['shared', 0, 32], ['shared', 32, 64]]);
  });

  test('a new table of ZERO_PAGE entries: no entry stored, every entry not all ones', () => {
    for (const pages of [1, 31, 32, 33, 1024, 1025, 40000]) {
      const zeros = new Uint32Array(pages);
      for (const sentinel of [ZERO_PAGE, ONES_PAGE] as const) {
        const made = new Occupancy(pages, sentinel);
        const rebuilt = new Occupancy(pages, sentinel);
        rebuilt.rebuild(zeros);
        expect([...made.words], `${pages} pages, sentinel ${sentinel}`).toEqual([...rebuilt.words]);
        expect([...made.groups], `${pages} pages, sentinel ${sentinel}`).toEqual([...rebuilt.groups]);
      }
    }
  });
});

describe(`PagedBitmap second levels and kept page counts (${backend})`, () => {
  test('stay exact through every kind of write, counted between the writes', () => {
    const seed = testSeed('occupancy');
    const rng = new Prng(seed ^ 0x5a5a);
    const arena = newArena();
    for (let round = 0; round < 8; round++) {
      const bits = rng.pick([PAGE_BLOCKS, 3 * PAGE_BLOCKS, 5 * PAGE_BLOCKS + rng.int(1, PAGE_BLOCKS - 1)]);
      const sparse = rng.chance(0.5);
      let map = PagedBitmap.create(arena, bits, { sparse });
      let model = new Uint8Array(bits);
      const acc = arena.alloc(ACC_BYTES);
      const list = arena.alloc(16);
      const out = arena.alloc(8 * (PAGE_RUNS_LIMIT + 1));
      const scratch = { list, acc, out };
      for (let op = 0; op < 80; op++) {
        const label = `seed ${seed} round ${round} op ${op} (${sparse ? 'sparse' : 'dense'} map of ${bits} bits)`;
        ({ map, model } = randomWrite(rng, arena, map, model, sparse));
        expectOccupancyOfTable(map, label);
        // pageCount and pageRuns of every page (kept where dense), then the total through the kept counts.
        for (let p = 0; p < map.pages; p++) {
          const page = model.subarray(p * PAGE_BLOCKS, Math.min(map.bits, (p + 1) * PAGE_BLOCKS));
          expect(map.pageCount(p, scratch), `${label}, page ${p}`).toBe(popcountBits(page));
          const at = map.pageRuns(p, scratch);
          const want = runsOf(page);
          if (at < 0) {
            // Too many runs (past the limit, or past a few over a page not mostly set), or a
            // sparse page of scattered bits (runs under 8 bits on average).
            const scattered = isSparse(map.entry(p)) && (want.length / 2) * 8 > popcountBits(page);
            const many = want.length > 2 * PAGE_RUNS_LIMIT || (want.length > 2 * PAGE_RUNS_FEW && popcountBits(page) < PAGE_RUNS_DENSE);
            expect(many || scattered, `${label}, page ${p}: no runs kept`).toBe(true);
          } else {
            const pool = map.runPool;
            expect([...pool.subarray(at + 1, at + 1 + 2 * pool[at]!)], `${label}, page ${p} runs`).toEqual(want);
          }
        }
        expect(map.popcount(), label).toBe(popcountBits(model));
      }
      arena.free(acc, ACC_BYTES);
      arena.free(list, 16);
      arena.free(out, 8 * (PAGE_RUNS_LIMIT + 1));
      map.free();
    }
    expect(arena.stats().bytesInUse).toBe(0);
  });

  test('plain counts and scans over the stored pages agree with the model, whole and over any range', () => {
    const seed = testSeed('occupancy');
    const rng = new Prng(seed ^ 0x1234);
    const arena = newArena();
    for (let round = 0; round < 40; round++) {
      const bits = rng.pick([2 * PAGE_BLOCKS, 40 * PAGE_BLOCKS + rng.int(1, 999), 70 * PAGE_BLOCKS]);
      const k = rng.int(1, 4);
      // A few pages each, some of them the same pages as another map's.
      const { maps, models } = randomMaps(arena, rng, k, bits, {
        writes: () => rng.int(0, 6),
        start: () => rng.int(0, bits - 1),
        lengths: [1, 5, 300, 5000, PAGE_BLOCKS],
      });
      for (let n = 0; n < 4; n++) {
        const whole = n === 0;
        const from = whole ? 0 : rng.int(0, bits);
        const to = whole ? bits : rng.int(from, bits);
        const label = `seed ${seed} round ${round}: ${k} maps, [${from}, ${to})`;
        const want = refScan(models, from, to);
        // Twice: the second count runs on the page counts the first one kept.
        for (let again = 0; again < 2; again++) {
          expect(countDelta({ bitmaps: maps, from, to }), label).toBe(want.count);
        }
        // Batches filled across the ranges of stored pages, down to one extent a batch.
        const batch = rng.pick([1, 2, 3, 8192]);
        expect(deltaExtents({ bitmaps: maps, from, to, batch }), `${label}, batch ${batch}`).toEqual(want.extents);
      }
      for (const map of maps) map.free();
    }
    expect(arena.stats().bytesInUse).toBe(0);
  });

  test('meta-aware counts and scans, plain where every meta page is all in use, agree with the model', () => {
    const seed = testSeed('occupancy');
    const rng = new Prng(seed ^ 0x4d45);
    const arena = newArena();
    for (let round = 0; round < 30; round++) {
      const g = rng.pick([0, 1, 3]);
      const bits = rng.pick([20 * PAGE_BLOCKS, 33 * PAGE_BLOCKS + rng.int(1, 999)]);
      const metaBits = Math.ceil(bits / 2 ** g);
      const k = rng.int(1, 3);
      const { maps: bitmaps, models } = randomMaps(arena, rng, k, bits, {
        writes: () => rng.int(0, 8),
        start: () => rng.int(0, bits - 1),
        lengths: [1, 40, 3000, PAGE_BLOCKS],
      });
      // Meta maps all in use but for a few granules here and there, or a page not in use at all.
      const { metaMaps, meta, refMeta } = randomMetas(arena, rng, k, metaBits, g, {
        writes: () => rng.pick([0, 0, 1, 3]),
        lengths: [1, 7, PAGE_BLOCKS],
      });
      for (let n = 0; n < 3; n++) {
        const from = n === 0 ? 0 : rng.int(0, bits);
        const to = n === 0 ? bits : rng.int(from, bits);
        const label = `seed ${seed} round ${round}: K = ${k}, g = ${g}, [${from}, ${to})`;
        const want = refScan(models, from, to, refMeta);
        expect(countDelta({ bitmaps, meta, from, to }), label).toBe(want.count);
        // Extents stay maximal where a meta-aware range meets a plain one, in batches down to 1.
        const batch = rng.pick([1, 2, 5, 8192]);
        expect(deltaExtents({ bitmaps, meta, from, to, batch }), `${label}, batch ${batch}`).toEqual(want.extents);
      }
      for (const map of [...bitmaps, ...metaMaps]) map.free();
    }
    expect(arena.stats().bytesInUse).toBe(0);
  });
  test('a union of two maps\' runs one block short of the page counts that block out, plain and meta-aware', () => {
    const arena = newArena();
    for (const short of ['first', 'last'] as const) {
      for (const g of [0, 3]) {
        const bits = 2 * PAGE_BLOCKS;
        const [a, b] = [PagedBitmap.create(arena, bits), PagedBitmap.create(arena, bits, { sparse: true })];
        // Together they cover page 0 but one block, in two maps' runs.
        a.setRange(short === 'first' ? 1 : 0, short === 'first' ? PAGE_BLOCKS : PAGE_BLOCKS - 1);
        b.setRange(100, 300);
        // A granule out of use in the middle of page 0 makes it a meta-aware part.
        const metaBits = bits >>> g;
        const metas = [0, 1, 2].map(() => PagedBitmap.create(arena, metaBits));
        for (const m of metas) m.setRange(0, metaBits);
        metas[0]!.clear(2000 >>> g);
        const meta = { metas: metas.slice(0, 2), live: metas[2]!, granularity: g };
        // The blocks of page 0 but the short one: the OR is 1 everywhere else, ~meta adds nothing new.
        expect(countDelta({ bitmaps: [a, b], meta }), `${short}, g = ${g}`).toBe(PAGE_BLOCKS - 1);
        expect(countDelta({ bitmaps: [a, b] }), `${short}, g = ${g}, plain`).toBe(PAGE_BLOCKS - 1);
        for (const m of [a, b, ...metas]) m.free();
      }
    }
    expect(arena.stats().bytesInUse).toBe(0);
  });

  test('counts over pages several maps store with long runs and short gaps agree with the model, plain and meta-aware', () => {
    const seed = testSeed('occupancy');
    const rng = new Prng(seed ^ 0x636f);
    const arena = newArena();
    for (let round = 0; round < 24; round++) {
      const g = rng.pick([0, 1, 3, 6]);
      const bits = rng.pick([12 * PAGE_BLOCKS, 9 * PAGE_BLOCKS + 64 * rng.int(1, 300), 10 * PAGE_BLOCKS + rng.int(1, 999)]);
      const metaBits = Math.ceil(bits / 2 ** g);
      const k = rng.int(2, 6);
      // Few runs a page (kept), near the limit, or past it (left to the kernels).
      const runsPerPage = rng.pick([4, 30, PAGE_RUNS_LIMIT, PAGE_RUNS_LIMIT + 20]);
      const { maps: bitmaps, models } = clusteredMaps(arena, rng, k, bits, runsPerPage);
      // Meta maps with granules out of use on every page, or on a few: the meta-aware parts cover most of the maps.
      const { metaMaps, meta, refMeta } = randomMetas(arena, rng, k, metaBits, g, {
        writes: () => rng.int(3, 40),
        lengths: [1, 2, 7],
      });
      for (let n = 0; n < 3; n++) {
        const from = n === 0 ? 0 : rng.int(0, bits);
        const to = n === 0 ? bits : rng.int(from, bits);
        const label = `seed ${seed} round ${round}: K = ${k}, g = ${g}, ${runsPerPage} runs a page, [${from}, ${to})`;
        // Twice each: the second runs on the runs the first kept.
        const plain = refScan(models, from, to).count;
        const aware = refScan(models, from, to, refMeta).count;
        for (let again = 0; again < 2; again++) {
          expect(countDelta({ bitmaps, from, to }), `${label}, plain`).toBe(plain);
          expect(countDelta({ bitmaps, meta, from, to }), `${label}, meta-aware`).toBe(aware);
        }
      }
      for (const map of [...bitmaps, ...metaMaps]) map.free();
    }
    expect(arena.stats().bytesInUse).toBe(0);
  });
});

/**
 * Maps of long runs with short gaps over some pages (a clustered delta): the union of a
 * few maps covers most of a page, and now and then all of it. `runsPerPage` sets how many
 * runs a page gets (past PAGE_RUNS_LIMIT the page's runs are not kept).
 */
function clusteredMaps(arena: ReturnType<typeof newArena>, rng: Prng, count: number, bits: number, runsPerPage: number):
  { maps: PagedBitmap[]; models: Uint8Array[] } {
  const maps: PagedBitmap[] = [];
  const models: Uint8Array[] = [];
  const pages = Math.ceil(bits / PAGE_BLOCKS);
  const stride = Math.floor(PAGE_BLOCKS / runsPerPage);
  for (let i = 0; i < count; i++) {
    const map = PagedBitmap.create(arena, bits, { sparse: rng.chance(0.5) });
    const model = new Uint8Array(bits);
    for (let p = 0; p < pages; p++) {
      if (!rng.chance(0.7)) continue;
      if (rng.chance(0.15)) {
        // Now and then a page all ones, or all ones but a bit.
        const to = Math.min(bits, (p + 1) * PAGE_BLOCKS);
        map.setRange(p * PAGE_BLOCKS, to);
        model.fill(1, p * PAGE_BLOCKS, to);
        if (rng.chance(0.5)) {
          // At either end too: the union is then one run that stops short of covering the page.
          const hole = rng.pick([p * PAGE_BLOCKS, to - 1, to - 2, rng.int(p * PAGE_BLOCKS, to - 1)]);
          map.clear(hole);
          model[hole] = 0;
        }
        continue;
      }
      for (let at = p * PAGE_BLOCKS; at < Math.min(bits, (p + 1) * PAGE_BLOCKS); at += stride) {
        // A gap of 1..stride/8 blocks somewhere in each stride, the rest set.
        const gap = rng.int(1, Math.max(1, stride >>> 3));
        const gapAt = at + rng.int(0, stride - gap);
        const end = Math.min(bits, at + stride);
        map.setRange(at, Math.min(end, gapAt));
        model.fill(1, at, Math.min(end, gapAt));
        if (gapAt + gap < end) {
          map.setRange(gapAt + gap, end);
          model.fill(1, gapAt + gap, end);
        }
      }
    }
    maps.push(map);
    models.push(model);
  }
  return { maps, models };
}

interface RandomWrites {
  /** How many ranges a map gets, where each starts; their lengths are picked from `lengths`. */
  writes: () => number;
  start: () => number;
  lengths: readonly number[];
  /** Maps all set whose ranges are cleared (meta maps), rather than clear maps whose ranges are set (half of them sparse). */
  clear?: boolean;
}

/** `count` maps of `bits` bits with a few random ranges written, and their models. */
function randomMaps(arena: ReturnType<typeof newArena>, rng: Prng, count: number, bits: number, w: RandomWrites):
  { maps: PagedBitmap[]; models: Uint8Array[] } {
  const maps: PagedBitmap[] = [];
  const models: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const map = PagedBitmap.create(arena, bits, { sparse: !w.clear && rng.chance(0.5) });
    const model = new Uint8Array(bits);
    if (w.clear) {
      map.setRange(0, bits);
      model.fill(1);
    }
    for (let n = w.writes(); n > 0; n--) {
      const from = w.start();
      const to = Math.min(bits, from + rng.pick(w.lengths));
      if (w.clear) map.clearRange(from, to);
      else map.setRange(from, to);
      model.fill(w.clear ? 0 : 1, from, to);
    }
    maps.push(map);
    models.push(model);
  }
  return { maps, models };
}

/**
 * The K + 1 meta maps of a meta-aware scan (L..M-1, then M), all in use but for a few
 * random ranges, as the scan takes them and as refScan does.
 */
function randomMetas(arena: ReturnType<typeof newArena>, rng: Prng, k: number, metaBits: number, g: number,
  w: Pick<RandomWrites, 'writes' | 'lengths'>) {
  const { maps, models } = randomMaps(arena, rng, k + 1, metaBits, { ...w, start: () => rng.int(0, metaBits - 1), clear: true });
  return {
    metaMaps: maps,
    meta: { metas: maps.slice(0, k), live: maps[k]!, granularity: g },
    refMeta: { metas: models.slice(0, k), live: models[k]!, g },
  };
}

/** One random write of any kind to `map` and the same to `model`; returns the (maybe new) map. */
function randomWrite(rng: Prng, arena: ReturnType<typeof newArena>, map: PagedBitmap, model: Uint8Array, sparse: boolean):
  { map: PagedBitmap; model: Uint8Array } {
  const bits = map.bits;
  const from = rng.int(0, bits - 1);
  const to = Math.min(bits, from + rng.pick([1, 9, 200, 4000, PAGE_BLOCKS, 2 * PAGE_BLOCKS]));
  switch (rng.int(0, 8)) {
    case 0:
      map.setRange(from, to);
      model.fill(1, from, to);
      break;
    case 1:
      map.clearRange(from, to);
      model.fill(0, from, to);
      break;
    case 2: {
      // OR in another map (consumed): our pages change in place where both store one.
      const other = PagedBitmap.create(arena, bits, { sparse: rng.chance(0.5) });
      other.setRange(from, to);
      other.set(rng.int(0, bits - 1));
      const theirs = otherBits(other);
      map.mergeFrom(other);
      theirs.forEach((v, b) => { if (v) model[b] = 1; });
      break;
    }
    case 3: {
      if (sparse) break;
      // AND with a map that keeps some pages whole, some in part, and drops the rest.
      const other = PagedBitmap.create(arena, bits);
      other.setRange(0, bits);
      other.clearRange(from, to);
      other.clear(rng.int(0, bits - 1));
      const theirs = otherBits(other);
      map.andWith(other);
      other.free();
      model.forEach((v, b) => { model[b] = v & theirs[b]!; });
      break;
    }
    case 4: {
      const copy = map.clone();
      map.free();
      return { map: copy, model };
    }
    case 5: {
      const other = PagedBitmap.create(arena, bits);
      other.setRange(from, to);
      const theirs = otherBits(other);
      map.assign(other);
      other.free();
      return { map, model: theirs };
    }
    case 6: {
      const page = rng.int(0, map.pages - 1);
      const bytes = new Uint8Array(PAGE_BYTES);
      const end = Math.min(PAGE_BLOCKS, bits - page * PAGE_BLOCKS);
      for (let n = rng.int(0, 400); n > 0; n--) {
        const b = rng.int(0, end - 1);
        bytes[b >>> 3]! |= 1 << (b & 7);
      }
      map.loadPage(page, bytes);
      for (let b = 0; b < end; b++) model[page * PAGE_BLOCKS + b] = (bytes[b >>> 3]! >>> (b & 7)) & 1;
      break;
    }
    case 7: {
      const grown = rng.chance(0.5);
      const size = Math.max(1, grown ? bits + rng.int(1, PAGE_BLOCKS) : bits - rng.int(1, Math.min(bits - 1, PAGE_BLOCKS)));
      map.resize(size);
      const next = new Uint8Array(size);
      next.set(model.subarray(0, Math.min(size, bits)));
      // Back to the round's size, so the ops that follow keep to it.
      map.resize(bits);
      const back = new Uint8Array(bits);
      back.set(next.subarray(0, Math.min(size, bits)));
      return { map, model: back };
    }
    default: {
      // A ZERO_PAGE entry written straight to the table (what loading a map file does).
      const page = rng.int(0, map.pages - 1);
      map.loadBits(page, []);
      model.fill(0, page * PAGE_BLOCKS, Math.min(bits, (page + 1) * PAGE_BLOCKS));
      expect(map.entry(page)).toBe(ZERO_PAGE);
    }
  }
  return { map, model };
}

/** The runs of a page's bits as [first, end) pairs. */
function runsOf(page: Uint8Array): number[] {
  const runs: number[] = [];
  for (let b = 0; b < page.length; b++) {
    if (page[b] && (b === 0 || !page[b - 1])) runs.push(b);
    if (page[b] && (b === page.length - 1 || !page[b + 1])) runs.push(b + 1);
  }
  return runs;
}

function otherBits(map: PagedBitmap): Uint8Array {
  const bytes = map.toBytes();
  const bits = new Uint8Array(map.bits);
  for (let b = 0; b < map.bits; b++) bits[b] = (bytes[b >>> 3]! >>> (b & 7)) & 1;
  return bits;
}
