// PagedBitmap: a bit map as a page table in the arena (FIG. 43), with sentinel pages.

import { describe, expect, test } from 'vitest';
import {
  MAX_BLOCKS, ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, PagedBitmap, SnapcopyError, ZERO_PAGE,
} from '../../src/index.js';
import { backend, newArena } from '../helpers/backend.js';
import { entryKinds, randomMap, readMapBits, readMapPages } from '../helpers/maps.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { bitsToBytes, expectSameBytes, popcountBits } from '../helpers/reference.js';

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(SnapcopyError);
  expect((thrown as SnapcopyError).code).toBe(code);
}

/** The table of a map takes whole arena pages: what a map with no stored pages costs. */
function tableBytes(map: PagedBitmap): number {
  return Math.ceil((map.pages * 4) / PAGE_BYTES) * PAGE_BYTES;
}

describe(`PagedBitmap (${backend})`, () => {
  test('create: an all-zeros map of ZERO_PAGE entries and no stored pages', () => {
    const arena = newArena();
    const map = PagedBitmap.create(arena, 3 * PAGE_BLOCKS + 5);
    expect(map.pages).toBe(4);
    expect(map.bits).toBe(3 * PAGE_BLOCKS + 5);
    expect(entryKinds(map)).toEqual(['zero', 'zero', 'zero', 'zero']);
    expect(map.storedPages()).toBe(0);
    expect(map.popcount()).toBe(0);
    expect(arena.stats().bytesInUse).toBe(tableBytes(map));
    expect(map.get(0)).toBe(false);
    expect(map.get(map.bits - 1)).toBe(false);
    expect(PagedBitmap.create(arena, 0).pages).toBe(1);
    expect(PagedBitmap.create(arena, PAGE_BLOCKS).pages).toBe(1);
    expect(PagedBitmap.create(arena, PAGE_BLOCKS + 1).pages).toBe(2);
  });

  test('create: bad sizes are ERR_INVALID_ARGUMENT', () => {
    const arena = newArena();
    for (const bits of [-1, 1.5, NaN, Infinity, MAX_BLOCKS + 1, 2 ** 53]) {
      expectCode(() => PagedBitmap.create(arena, bits), 'ERR_INVALID_ARGUMENT');
    }
    expect(PagedBitmap.create(arena, MAX_BLOCKS).pages).toBe(MAX_BLOCKS / PAGE_BLOCKS);
  });

  test('get / set / clear single bits, across words and pages', () => {
    const arena = newArena();
    const bits = 2 * PAGE_BLOCKS + 77;
    const map = PagedBitmap.create(arena, bits);
    const picks = [0, 1, 7, 8, 31, 32, 63, 64, 127, 128, PAGE_BLOCKS - 1, PAGE_BLOCKS, PAGE_BLOCKS + 1, 2 * PAGE_BLOCKS, bits - 1];
    for (const b of picks) map.set(b);
    for (const b of picks) expect(map.get(b)).toBe(true);
    for (const b of [2, 9, 30, 33, 65, PAGE_BLOCKS - 2, PAGE_BLOCKS + 2, bits - 2]) expect(map.get(b)).toBe(false);
    expect(map.popcount()).toBe(picks.length);
    expect(map.storedPages()).toBe(3);
    map.set(64); // setting a set bit changes nothing
    expect(map.popcount()).toBe(picks.length);
    map.clear(64);
    map.clear(65); // clearing a clear bit changes nothing
    expect(map.get(64)).toBe(false);
    expect(map.get(63)).toBe(true);
    expect(map.popcount()).toBe(picks.length - 1);
    // Raw layout: block b is bit (b & 7) of byte (b >> 3) of its page.
    const page1 = map.entry(1);
    expect(arena.u8[page1]).toBe(0b11);
    expect(arena.u8[page1 + 1]).toBe(0);
  });

  test('out-of-range bits and ranges are ERR_OUT_OF_RANGE', () => {
    const arena = newArena();
    const map = PagedBitmap.create(arena, 1000);
    for (const b of [-1, 1000, 1001, 1.5, NaN]) {
      expectCode(() => map.get(b), 'ERR_OUT_OF_RANGE');
      expectCode(() => map.set(b), 'ERR_OUT_OF_RANGE');
      expectCode(() => map.clear(b), 'ERR_OUT_OF_RANGE');
    }
    expectCode(() => map.setRange(5, 4), 'ERR_OUT_OF_RANGE');
    expectCode(() => map.setRange(0, 1001), 'ERR_OUT_OF_RANGE');
    expectCode(() => map.clearRange(-1, 3), 'ERR_OUT_OF_RANGE');
    expectCode(() => map.clearRange(0, 2.5), 'ERR_OUT_OF_RANGE');
    expectCode(() => PagedBitmap.create(arena, 0).get(0), 'ERR_OUT_OF_RANGE');
    // Empty ranges are fine and change nothing.
    map.setRange(10, 10);
    map.clearRange(1000, 1000);
    expect(map.popcount()).toBe(0);
    expect(map.storedPages()).toBe(0);
  });

  test('setRange over whole pages makes ONES_PAGE sentinels, stores nothing, and frees replaced pages', () => {
    const arena = newArena();
    const map = PagedBitmap.create(arena, 4 * PAGE_BLOCKS);
    const base = arena.stats().bytesInUse;
    map.setRange(PAGE_BLOCKS, 3 * PAGE_BLOCKS);
    expect(entryKinds(map)).toEqual(['zero', 'ones', 'ones', 'zero']);
    expect(arena.stats().bytesInUse).toBe(base);
    expect(map.popcount()).toBe(2 * PAGE_BLOCKS);

    // A stored page that a range then covers whole is freed and replaced.
    map.set(5);
    expect(map.storedPages()).toBe(1);
    expect(arena.stats().bytesInUse).toBe(base + PAGE_BYTES);
    map.setRange(0, PAGE_BLOCKS);
    expect(entryKinds(map)).toEqual(['ones', 'ones', 'ones', 'zero']);
    expect(arena.stats().bytesInUse).toBe(base);

    // A range over parts of pages stores only the partial pages.
    map.setRange(3 * PAGE_BLOCKS + 10, 4 * PAGE_BLOCKS);
    expect(entryKinds(map)).toEqual(['ones', 'ones', 'ones', 'stored']);
    expect(map.popcount()).toBe(4 * PAGE_BLOCKS - 10);
  });

  test('clearRange over whole pages makes ZERO_PAGE sentinels and frees stored pages', () => {
    const arena = newArena();
    const map = PagedBitmap.create(arena, 3 * PAGE_BLOCKS);
    const base = arena.stats().bytesInUse;
    map.set(1);
    map.set(PAGE_BLOCKS + 1);
    map.setRange(2 * PAGE_BLOCKS, 3 * PAGE_BLOCKS);
    expect(entryKinds(map)).toEqual(['stored', 'stored', 'ones']);
    expect(arena.stats().bytesInUse).toBe(base + 2 * PAGE_BYTES);
    map.clearRange(0, 3 * PAGE_BLOCKS);
    expect(entryKinds(map)).toEqual(['zero', 'zero', 'zero']);
    expect(arena.stats().bytesInUse).toBe(base);
    expect(map.popcount()).toBe(0);
  });

  test('clearing part of a ONES_PAGE stores a page of ones with the hole; setting part of ZERO_PAGE stores a page', () => {
    const arena = newArena();
    const map = PagedBitmap.create(arena, 2 * PAGE_BLOCKS);
    map.setRange(0, 2 * PAGE_BLOCKS);
    map.clearRange(100, 300);
    expect(entryKinds(map)).toEqual(['stored', 'ones']);
    expect(map.popcount()).toBe(2 * PAGE_BLOCKS - 200);
    expect(map.get(99)).toBe(true);
    expect(map.get(100)).toBe(false);
    expect(map.get(299)).toBe(false);
    expect(map.get(300)).toBe(true);
    expect(map.get(PAGE_BLOCKS - 1)).toBe(true);
  });

  test('a partial last page is never ONES_PAGE, and bits past the end stay 0', () => {
    const arena = newArena();
    const bits = PAGE_BLOCKS + 1000;
    const map = PagedBitmap.create(arena, bits);
    map.setRange(0, bits);
    expect(entryKinds(map)).toEqual(['ones', 'stored']);
    expect(map.popcount()).toBe(bits);
    const page = map.entry(1);
    const raw = arena.u8.subarray(page, page + PAGE_BYTES);
    expect(raw.subarray(0, 125).every((x) => x === 0xff)).toBe(true);
    expect(raw.subarray(125).every((x) => x === 0)).toBe(true);
    // Same with a last partial bit not on a byte edge.
    const odd = PagedBitmap.create(arena, 13);
    odd.setRange(0, 13);
    expect(entryKinds(odd)).toEqual(['stored']);
    expect(arena.u8[odd.entry(0)]).toBe(0xff);
    expect(arena.u8[odd.entry(0) + 1]).toBe(0b11111);
    expect(arena.u8[odd.entry(0) + 2]).toBe(0);
    expect([...odd.toBytes()]).toEqual([0xff, 0b11111]);
  });

  test('toBytes: ceil(bits / 8) flat bytes, sentinels expanded', () => {
    const arena = newArena();
    const bits = 3 * PAGE_BLOCKS + 3;
    const map = PagedBitmap.create(arena, bits);
    map.setRange(PAGE_BLOCKS, 2 * PAGE_BLOCKS);
    map.set(3);
    map.set(bits - 1);
    const bytes = map.toBytes();
    expect(bytes.length).toBe(Math.ceil(bits / 8));
    expect(bytes[0]).toBe(0b1000);
    expect(bytes.subarray(PAGE_BYTES, 2 * PAGE_BYTES).every((x) => x === 0xff)).toBe(true);
    expect(bytes.subarray(2 * PAGE_BYTES, 3 * PAGE_BYTES).every((x) => x === 0)).toBe(true);
    expect(bytes[bytes.length - 1]).toBe(0b100);
    expect(PagedBitmap.create(arena, 0).toBytes().length).toBe(0);
    // A copy: later changes to the map do not show in it.
    map.clear(3);
    expect(bytes[0]).toBe(0b1000);
    // toBytes gives back the scratch it used.
    const inUse = arena.stats().bytesInUse;
    map.toBytes();
    map.popcount();
    expect(arena.stats().bytesInUse).toBe(inUse);
  });

  test('random operations agree with a plain model (get, popcount, toBytes, raw pages)', () => {
    const seed = testSeed('bitmap');
    const rng = new Prng(seed);
    const arena = newArena();
    for (let round = 0; round < 12; round++) {
      const bits = rng.pick([1, 63, 64, 65, PAGE_BLOCKS - 1, PAGE_BLOCKS, PAGE_BLOCKS + 1, 3 * PAGE_BLOCKS + rng.int(0, PAGE_BLOCKS - 1)]);
      const map = PagedBitmap.create(arena, bits);
      const model = new Uint8Array(bits);
      for (let op = 0; op < 60; op++) {
        const a = rng.int(0, bits), span = rng.pick([0, 1, 2, 7, 33, 64, 200, PAGE_BLOCKS, 2 * PAGE_BLOCKS, bits]);
        const from = Math.min(a, bits), to = Math.min(bits, from + span);
        const what = rng.int(0, 3);
        if (what === 0) {
          map.setRange(from, to);
          model.fill(1, from, to);
        } else if (what === 1) {
          map.clearRange(from, to);
          model.fill(0, from, to);
        } else if (what === 2 && from < bits) {
          map.set(from);
          model[from] = 1;
        } else if (from < bits) {
          map.clear(from);
          model[from] = 0;
        }
        if (bits > 0) {
          const probe = rng.int(0, bits - 1);
          expect(map.get(probe)).toBe(model[probe] === 1);
        }
      }
      expect(map.popcount()).toBe(popcountBits(model));
      expectSameBytes(map.toBytes(), bitsToBytes(model), `toBytes, seed ${seed} round ${round}`);
      expectSameBytes(readMapBits(map), model, `raw pages, seed ${seed} round ${round}`);
      // Invariants: ONES_PAGE only on full pages; bits past the end of a stored last page are 0.
      const kinds = entryKinds(map);
      const last = map.pages - 1;
      if (bits % PAGE_BLOCKS !== 0) expect(kinds[last]).not.toBe('ones');
      const raw = readMapPages(map).subarray(last * PAGE_BYTES);
      const tailBits = bits - last * PAGE_BLOCKS;
      for (let b = tailBits; b < PAGE_BLOCKS; b += 1) {
        if (raw[b >> 3] !== 0 && ((raw[b >> 3]! >> (b & 7)) & 1) === 1) throw new Error(`bit ${b} past the end is set`);
      }
      map.free();
    }
    expect(arena.stats().bytesInUse).toBe(0);
  });

  test('popcount, toBytes and get on random maps that mix sentinels and stored pages', () => {
    const seed = testSeed('bitmap');
    const rng = new Prng(seed ^ 0x77);
    const arena = newArena();
    for (let round = 0; round < 30; round++) {
      const size = rng.pick([1, 100, PAGE_BLOCKS, 5 * PAGE_BLOCKS, 4 * PAGE_BLOCKS + rng.int(1, PAGE_BLOCKS - 1)]);
      const { map, bits } = randomMap(arena, rng, size);
      expect(map.popcount(), `seed ${seed} round ${round}`).toBe(popcountBits(bits));
      expectSameBytes(map.toBytes(), bitsToBytes(bits), `toBytes, seed ${seed} round ${round}`);
      for (let i = 0; i < 50; i++) {
        const b = rng.int(0, size - 1);
        expect(map.get(b)).toBe(bits[b] === 1);
      }
      map.free();
    }
    expect(arena.stats().bytesInUse).toBe(0);
  });

  test('popcount of a full 2^31-bit map is 2^31 (counts are u32, not i32)', () => {
    const arena = newArena();
    const map = PagedBitmap.create(arena, MAX_BLOCKS);
    map.setRange(0, MAX_BLOCKS);
    expect(map.storedPages()).toBe(0);
    expect(map.popcount()).toBe(MAX_BLOCKS);
    map.clear(MAX_BLOCKS - 1);
    expect(map.popcount()).toBe(MAX_BLOCKS - 1);
    expect(map.storedPages()).toBe(1);
  });

  test('free: gives the page table and the stored pages back; the map is then unusable', () => {
    const arena = newArena();
    const before = arena.stats().bytesInUse;
    const map = PagedBitmap.create(arena, 5 * PAGE_BLOCKS);
    map.set(1);
    map.setRange(PAGE_BLOCKS, 2 * PAGE_BLOCKS);
    map.set(3 * PAGE_BLOCKS + 9);
    expect(map.storedPages()).toBe(2);
    expect(arena.stats().bytesInUse).toBe(before + tableBytes(map) + 2 * PAGE_BYTES);
    map.free();
    expect(arena.stats().bytesInUse).toBe(before);
    expectCode(() => map.table, 'ERR_FREED');
    expectCode(() => map.get(1), 'ERR_FREED');
    expectCode(() => map.set(1), 'ERR_FREED');
    expectCode(() => map.popcount(), 'ERR_FREED');
    map.free(); // a second free is a no-op
    expect(arena.stats().bytesInUse).toBe(before);
    // Freed pages are reused, zeroed.
    const again = PagedBitmap.create(arena, 5 * PAGE_BLOCKS);
    again.set(7);
    expect(again.popcount()).toBe(1);
    expect(arena.stats().bytesInUse).toBe(before + tableBytes(again) + PAGE_BYTES);
  });

  test('setEntry / entry name pages and sentinels directly', () => {
    const arena = newArena();
    const map = PagedBitmap.create(arena, 2 * PAGE_BLOCKS);
    map.setEntry(1, ONES_PAGE);
    expect(map.entry(1)).toBe(ONES_PAGE);
    expect(map.get(PAGE_BLOCKS + 5)).toBe(true);
    expect(map.popcount()).toBe(PAGE_BLOCKS);
    map.setEntry(1, ZERO_PAGE);
    expect(map.popcount()).toBe(0);
    const page = arena.allocPage();
    arena.u8[page + 2] = 0x81;
    map.setEntry(0, page);
    expect(map.get(16)).toBe(true);
    expect(map.get(23)).toBe(true);
    expect(map.popcount()).toBe(2);
    expect(map.storedPages()).toBe(1);
  });

  test('one arena grows as maps are stored; views stay valid across growth', () => {
    const arena = newArena();
    const first = arena.stats().memoryBytes;
    const maps = Array.from({ length: 4 }, () => PagedBitmap.create(arena, 64 * PAGE_BLOCKS));
    // Store 256 pages (1 MiB): the memory grows; earlier pages keep their bits.
    maps.forEach((m, i) => {
      for (let p = 0; p < 64; p++) m.set(p * PAGE_BLOCKS + i);
    });
    expect(arena.stats().memoryBytes).toBeGreaterThan(first);
    maps.forEach((m, i) => {
      expect(m.popcount()).toBe(64);
      expect(m.get(i)).toBe(true);
      expect(m.get(63 * PAGE_BLOCKS + i)).toBe(true);
    });
  });
});
