// The library side of the delta scan: validation of scanDelta / countDelta /
// deltaExtents, and streaming in a fixed amount of memory over large sparse maps.

import { describe, expect, test } from 'vitest';
import {
  ACC_BYTES, Arena, type DeltaScanOptions, MAX_BLOCKS, PAGE_BLOCKS, PAGE_BYTES, PagedBitmap, SnapcopyError,
  countDelta, deltaExtents, scanDelta,
} from '../../src/index.js';
import { backend, newArena } from '../helpers/backend.js';
import { codeOf } from '../helpers/errors.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { type Bits, refScan } from '../helpers/reference.js';

/** Every entry point rejects the options with `code` (scanDelta on its first step). */
function expectRejected(options: DeltaScanOptions, code: string): void {
  expect(codeOf(() => scanDelta(options).next()), 'scanDelta').toBe(code);
  expect(codeOf(() => deltaExtents(options)), 'deltaExtents').toBe(code);
  expect(codeOf(() => countDelta(options)), 'countDelta').toBe(code);
}

describe(`delta scan validation (${backend})`, () => {
  const arena = newArena();
  const n = 3 * PAGE_BLOCKS + 17;
  const a = PagedBitmap.create(arena, n);
  const b = PagedBitmap.create(arena, n);
  a.setRange(5, 10);
  b.set(PAGE_BLOCKS);
  const g = 3;
  const metaBits = Math.ceil(n / 8);
  const metaA = PagedBitmap.create(arena, metaBits);
  const metaB = PagedBitmap.create(arena, metaBits);
  const live = PagedBitmap.create(arena, metaBits);
  for (const m of [metaA, metaB, live]) m.setRange(0, metaBits);
  const meta = { metas: [metaA, metaB], live, granularity: g };

  test('a valid scan works (the baseline the bad inputs vary)', () => {
    expect(deltaExtents({ bitmaps: [a, b] })).toEqual([[5, 5], [PAGE_BLOCKS, 1]]);
    expect(countDelta({ bitmaps: [a, b], meta })).toBe(6);
    expect(deltaExtents({ bitmaps: [a, b], meta, from: 6, to: PAGE_BLOCKS })).toEqual([[6, 4]]);
  });

  test('no bit maps: ERR_INVALID_ARGUMENT', () => {
    expectRejected({ bitmaps: [] }, 'ERR_INVALID_ARGUMENT');
    expectRejected({ bitmaps: undefined as unknown as PagedBitmap[] }, 'ERR_INVALID_ARGUMENT');
  });

  test('bit maps of different sizes, or in different arenas: ERR_INVALID_ARGUMENT', () => {
    const shorter = PagedBitmap.create(arena, n - 1);
    expectRejected({ bitmaps: [a, shorter] }, 'ERR_INVALID_ARGUMENT');
    expectRejected({ bitmaps: [shorter, a] }, 'ERR_INVALID_ARGUMENT');
    const elsewhere = PagedBitmap.create(newArena(), n);
    expectRejected({ bitmaps: [a, elsewhere] }, 'ERR_INVALID_ARGUMENT');
  });

  test('from > to, to past the end, negative or fractional bounds: ERR_OUT_OF_RANGE', () => {
    for (const [from, to] of [[10, 9], [0, n + 1], [n + 1, n + 1], [-1, 5], [1.5, 5], [0, 2.5], [NaN, 5], [0, Infinity]]) {
      expectRejected({ bitmaps: [a, b], from, to }, 'ERR_OUT_OF_RANGE');
      expectRejected({ bitmaps: [a, b], meta, from, to }, 'ERR_OUT_OF_RANGE');
    }
    // Empty ranges, at the start or the very end, are fine and empty.
    expect(deltaExtents({ bitmaps: [a, b], from: 7, to: 7 })).toEqual([]);
    expect(countDelta({ bitmaps: [a, b], from: n, to: n })).toBe(0);
    expect([...scanDelta({ bitmaps: [a, b], meta, from: 0, to: 0 })]).toEqual([]);
  });

  test('bad granularity: ERR_INVALID_ARGUMENT', () => {
    for (const granularity of [-1, 7, 1.5, NaN]) {
      expectRejected({ bitmaps: [a, b], meta: { ...meta, granularity } }, 'ERR_INVALID_ARGUMENT');
    }
  });

  test('meta maps: wrong count, wrong size, other arena: ERR_INVALID_ARGUMENT', () => {
    expectRejected({ bitmaps: [a, b], meta: { ...meta, metas: [metaA] } }, 'ERR_INVALID_ARGUMENT');
    expectRejected({ bitmaps: [a, b], meta: { ...meta, metas: [metaA, metaB, metaB] } }, 'ERR_INVALID_ARGUMENT');
    // Sized for another granularity.
    expectRejected({ bitmaps: [a, b], meta: { ...meta, granularity: 2 } }, 'ERR_INVALID_ARGUMENT');
    const small = PagedBitmap.create(arena, metaBits - 1);
    expectRejected({ bitmaps: [a, b], meta: { ...meta, metas: [metaA, small] } }, 'ERR_INVALID_ARGUMENT');
    expectRejected({ bitmaps: [a, b], meta: { ...meta, live: small } }, 'ERR_INVALID_ARGUMENT');
    const elsewhere = PagedBitmap.create(newArena(), metaBits);
    expectRejected({ bitmaps: [a, b], meta: { ...meta, live: elsewhere } }, 'ERR_INVALID_ARGUMENT');
    expectRejected({ bitmaps: [a, b], meta: { ...meta, metas: [elsewhere, metaB] } }, 'ERR_INVALID_ARGUMENT');
  });

  test('bad batch: ERR_INVALID_ARGUMENT', () => {
    for (const batch of [0, -1, 1.5, NaN, 2 ** 24 + 1]) {
      expect(codeOf(() => deltaExtents({ bitmaps: [a, b], batch })), `batch ${batch}`).toBe('ERR_INVALID_ARGUMENT');
      expect(codeOf(() => scanDelta({ bitmaps: [a, b], batch }).next()), `batch ${batch}`).toBe('ERR_INVALID_ARGUMENT');
    }
    expect(deltaExtents({ bitmaps: [a, b], batch: 1 })).toEqual([[5, 5], [PAGE_BLOCKS, 1]]);
  });

  test('reuse other than true or false: ERR_INVALID_ARGUMENT', () => {
    for (const reuse of [1, 'yes', {}]) {
      expectRejected({ bitmaps: [a, b], reuse: reuse as unknown as boolean }, 'ERR_INVALID_ARGUMENT');
    }
    for (const reuse of [true, false]) expect(deltaExtents({ bitmaps: [a, b], reuse })).toEqual([[5, 5], [PAGE_BLOCKS, 1]]);
  });

  test('a rejected scan leaves nothing allocated', () => {
    const before = arena.stats().bytesInUse;
    expectRejected({ bitmaps: [a, b], from: 3, to: 2 }, 'ERR_OUT_OF_RANGE');
    expectRejected({ bitmaps: [a, b], meta: { ...meta, granularity: 9 } }, 'ERR_INVALID_ARGUMENT');
    expect(codeOf(() => deltaExtents({ bitmaps: [a, b], batch: 0 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(arena.stats().bytesInUse).toBe(before);
  });

  test('a freed bit map: ERR_FREED, and the scan leaves nothing allocated', () => {
    const scratch = newArena();
    const x = PagedBitmap.create(scratch, 1000);
    const y = PagedBitmap.create(scratch, 1000);
    x.set(3);
    y.free();
    const before = scratch.stats().bytesInUse;
    expect(codeOf(() => deltaExtents({ bitmaps: [x, y] }))).toBe('ERR_FREED');
    expect(codeOf(() => countDelta({ bitmaps: [x, y] }))).toBe('ERR_FREED');
    expect(scratch.stats().bytesInUse).toBe(before);
    // A freed meta map, of L..M-1 or of M, likewise.
    const metas = [0, 1].map(() => PagedBitmap.create(scratch, 1000));
    for (const m of metas) m.setRange(0, 1000);
    const gone = PagedBitmap.create(scratch, 1000);
    gone.free();
    const held = scratch.stats().bytesInUse;
    for (const meta of [{ metas: [gone], live: metas[1]! }, { metas: [metas[0]!], live: gone }]) {
      const options = { bitmaps: [x], meta: { ...meta, granularity: 0 } };
      expect(codeOf(() => deltaExtents(options))).toBe('ERR_FREED');
      expect(codeOf(() => countDelta(options))).toBe('ERR_FREED');
      expect(scratch.stats().bytesInUse).toBe(held);
    }
  });
});

describe(`delta scan worked example (${backend})`, () => {
  test('two checkpoints over 100000 blocks, whole and clipped, in batches of 1', () => {
    const arena = newArena();
    const older = PagedBitmap.create(arena, 100000);
    const newer = PagedBitmap.create(arena, 100000);
    older.setRange(5, 10);
    older.setRange(65536, 98304); // exactly block page 2: a ONES_PAGE
    newer.setRange(8, 20);
    newer.set(40000);
    newer.set(99999);
    const whole = [[5, 15], [40000, 1], [65536, 32768], [99999, 1]];
    expect(deltaExtents({ bitmaps: [older, newer] })).toEqual(whole);
    expect(deltaExtents({ bitmaps: [older, newer], batch: 1 })).toEqual(whole);
    expect(countDelta({ bitmaps: [older, newer] })).toBe(32785);
    expect(deltaExtents({ bitmaps: [older, newer], batch: 1, from: 9, to: 99999 })).toEqual([[9, 11], [40000, 1], [65536, 32768]]);
    expect(countDelta({ bitmaps: [older, newer], from: 9, to: 99999 })).toBe(11 + 1 + 32768);
    // The order of the bit maps does not matter (an OR).
    expect(deltaExtents({ bitmaps: [newer, older] })).toEqual(whole);
  });
});

describe(`delta scan streaming (${backend})`, () => {
  test('a 2^28-block scan over a sparse map costs memory only for its stored pages', () => {
    const arena = new Arena({ kernels: backend });
    const blocks = 2 ** 28;
    const pages = blocks / PAGE_BLOCKS; // 8192
    const older = PagedBitmap.create(arena, blocks);
    const newer = PagedBitmap.create(arena, blocks);
    // A few stored pages far apart, a whole ONES page, and runs across page edges.
    older.set(0);
    older.setRange(1000 * PAGE_BLOCKS - 3, 1000 * PAGE_BLOCKS + 3);
    older.setRange(4000 * PAGE_BLOCKS, 4001 * PAGE_BLOCKS);
    newer.setRange(4001 * PAGE_BLOCKS, 4001 * PAGE_BLOCKS + 10);
    newer.set(blocks - 1);
    const expected: Array<[number, number]> = [
      [0, 1], [1000 * PAGE_BLOCKS - 3, 6], [4000 * PAGE_BLOCKS, PAGE_BLOCKS + 10], [blocks - 1, 1],
    ];
    const stored = older.storedPages() + newer.storedPages();
    expect(stored).toBe(5);
    const tables = 2 * Math.ceil((pages * 4) / PAGE_BYTES) * PAGE_BYTES;
    expect(arena.stats().bytesInUse).toBe(tables + stored * PAGE_BYTES);
    // The flat maps would take 64 MiB; the arena holds well under 1 MiB.
    expect(arena.stats().memoryBytes).toBeLessThan(1 << 20);

    expect(deltaExtents({ bitmaps: [older, newer] })).toEqual(expected);
    expect(countDelta({ bitmaps: [older, newer] })).toBe(1 + 6 + PAGE_BLOCKS + 10 + 1);
    expect(deltaExtents({ bitmaps: [older, newer], from: 1, to: blocks - 1 })).toEqual(expected.slice(1, 3));

    // Streaming one extent per batch: the scratch space is fixed while it runs, and
    // given back when the scan ends.
    const before = arena.stats().bytesInUse;
    const seen: Array<[number, number]> = [];
    for (const batch of scanDelta({ bitmaps: [older, newer], batch: 1 })) {
      expect(batch.length).toBe(2);
      seen.push([batch[0]!, batch[1]!]);
      const during = arena.stats().bytesInUse - before;
      expect(during).toBeGreaterThan(0);
      expect(during).toBeLessThanOrEqual(ACC_BYTES + PAGE_BYTES);
    }
    expect(seen).toEqual(expected);
    expect(arena.stats().bytesInUse).toBe(before);
    expect(arena.stats().memoryBytes).toBeLessThan(1 << 20);

    // Stopping early (break) also gives the scratch back.
    for (const batch of scanDelta({ bitmaps: [older, newer], batch: 1 })) {
      expect(batch[0]).toBe(0);
      break;
    }
    expect(arena.stats().bytesInUse).toBe(before);
  });

  test('a 2^28-block meta-aware scan at g = 6 over sparse meta maps', () => {
    const arena = new Arena({ kernels: backend });
    const blocks = 2 ** 28;
    const g = 6;
    const metaBits = blocks >> g;
    const bits = PagedBitmap.create(arena, blocks);
    const metaI = PagedBitmap.create(arena, metaBits);
    const live = PagedBitmap.create(arena, metaBits);
    metaI.setRange(0, metaBits); // everything in use in I...
    metaI.clear(5000); // ...except blocks [5000 * 64, 5001 * 64)
    live.setRange(0, metaBits); // everything in use in M...
    live.clearRange(100, 102); // ...except blocks [6400, 6528)
    bits.setRange(6000, 7000); // saved by I
    bits.set(blocks - 1);
    const meta = { metas: [metaI], live, granularity: g };
    expect(deltaExtents({ bitmaps: [bits], meta })).toEqual([
      [6000, 400], [6528, 472], [5000 * 64, 64], [blocks - 1, 1],
    ]);
    expect(countDelta({ bitmaps: [bits], meta })).toBe(400 + 472 + 64 + 1);
    expect(arena.stats().memoryBytes).toBeLessThan(1 << 20);
  });

  test('2^31 blocks (MAX_BLOCKS): whole-volume extents and counts past 2^31 - 1', () => {
    const arena = new Arena({ kernels: backend });
    const full = PagedBitmap.create(arena, MAX_BLOCKS);
    full.setRange(0, MAX_BLOCKS);
    expect(deltaExtents({ bitmaps: [full] })).toEqual([[0, MAX_BLOCKS]]);
    expect(countDelta({ bitmaps: [full] })).toBe(MAX_BLOCKS);
    const tail = PagedBitmap.create(arena, MAX_BLOCKS);
    tail.setRange(MAX_BLOCKS - PAGE_BLOCKS - 1, MAX_BLOCKS);
    expect(deltaExtents({ bitmaps: [tail], from: 5 })).toEqual([[MAX_BLOCKS - PAGE_BLOCKS - 1, PAGE_BLOCKS + 1]]);
    expect(countDelta({ bitmaps: [tail], from: MAX_BLOCKS - 10, to: MAX_BLOCKS })).toBe(10);
    // Meta-aware, at g = 0 with every meta page a sentinel.
    const ones = PagedBitmap.create(arena, MAX_BLOCKS);
    ones.setRange(0, MAX_BLOCKS);
    const none = PagedBitmap.create(arena, MAX_BLOCKS);
    const meta = { metas: [none], live: ones, granularity: 0 };
    expect(countDelta({ bitmaps: [tail], meta })).toBe(MAX_BLOCKS);
    expect(deltaExtents({ bitmaps: [tail], meta })).toEqual([[0, MAX_BLOCKS]]);
  });
});

describe(`delta scan batches: copies and one reused buffer (${backend})`, () => {
  test('random maps: the same batches either way; copies stay as they were, reuse hands out one buffer', () => {
    const seed = testSeed('delta-scan-reuse');
    const rng = new Prng(seed);
    const arena = newArena();
    for (let round = 0; round < 25; round++) {
      const blocks = rng.pick([1, 70, PAGE_BLOCKS, 3 * PAGE_BLOCKS + 5]);
      const k = rng.int(1, 4);
      const bits: Bits[] = [];
      const maps = Array.from({ length: k }, () => {
        const ref = new Uint8Array(blocks);
        const map = PagedBitmap.create(arena, blocks);
        const density = rng.pick([0.001, 0.05, 0.5]);
        for (let b = 0; b < blocks; b++) {
          if (!rng.chance(density)) continue;
          ref[b] = 1;
          map.set(b);
        }
        if (rng.chance(0.3)) {
          const from = rng.int(0, blocks - 1);
          const to = rng.int(from, blocks);
          ref.fill(1, from, to);
          map.setRange(from, to);
        }
        bits.push(ref);
        return map;
      });
      const batch = rng.pick([1, 2, 7, 8192]);
      const label = `seed ${seed}, round ${round}: ${blocks} blocks, K = ${k}, batch ${batch}`;
      const want = refScan(bits, 0, blocks).extents.flat();
      const copies = [...scanDelta({ bitmaps: maps, batch })];
      // Kept after the scan, the copies still hold the extents, each batch full but the last.
      expect(copies.flatMap((c) => [...c]), label).toEqual(want);
      copies.slice(0, -1).forEach((c) => expect(c.length, label).toBe(2 * batch));
      const reused: number[][] = [];
      const buffers = new Set<ArrayBufferLike>();
      for (const view of scanDelta({ bitmaps: maps, batch, reuse: true })) {
        reused.push([...view]);
        buffers.add(view.buffer);
        expect(view.buffer, `${label}: never a view of the arena`).not.toBe(arena.u32.buffer);
      }
      expect(reused, label).toEqual(copies.map((c) => [...c]));
      expect(buffers.size, label).toBeLessThanOrEqual(1);
      for (const map of maps) map.free();
    }
  });
});
