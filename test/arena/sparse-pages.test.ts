// Sparse bit map pages written by PagedBitmap ({ sparse: true }): a seeded random
// model test against a plain array of bits, with pages crossing the sparse/dense
// threshold both ways; the kernels' counts and scans over such maps; exact arena
// accounting; the map file round trip.

import { describe, expect, test } from 'vitest';
import {
  Arena, countDelta, deltaExtents, PAGE_BLOCKS, PAGE_BYTES, PagedBitmap, SnapcopyError,
} from '../../src/index.js';
import { SMALL_SLOT_BYTES } from '../../src/arena/arena.js';
import { FreeSlots } from '../../src/arena/free-slots.js';
import { SPARSE_LIMIT, SPARSE_LOW, isSparse, sparseCount, sparseSlotBytes } from '../../src/arena/sparse-page.js';
import { decodeMap, encodeMap } from '../../src/checkpoint/map-file.js';
import { crc32 } from '../../src/storage/checksum.js';
import { ONES_PAGE, SPARSE_TAG } from '../../src/kernels/api.js';
import { backend, newArena } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { type Bits, bitsToBytes, expectSameBytes, popcountBits, refScan } from '../helpers/reference.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof SnapcopyError) return e.code;
    throw e;
  }
  return undefined;
}

type Form = 'zero' | 'ones' | 'sparse' | 'dense';

function formOf(entry: number): Form {
  if (entry === 0) return 'zero';
  if (entry === ONES_PAGE) return 'ones';
  return isSparse(entry) ? 'sparse' : 'dense';
}

/** A map and its model: one byte (0 or 1) per bit. */
class Modeled {
  readonly bits: Bits;
  constructor(public map: PagedBitmap) {
    this.bits = new Uint8Array(map.bits);
  }

  setRange(from: number, to: number, value: boolean): void {
    if (value) this.map.setRange(from, to);
    else this.map.clearRange(from, to);
    this.bits.fill(value ? 1 : 0, from, to);
  }
}

/** Everything a map says agrees with its model, and its sparse pages are well formed. */
function expectAgrees(m: Modeled, rng: Prng, what: string): void {
  const { map, bits } = m;
  expectSameBytes(map.toBytes(), bitsToBytes(bits), `${what}: toBytes`);
  expect(map.popcount(), `${what}: popcount`).toBe(popcountBits(bits));
  for (let i = 0; i < 64; i++) {
    const b = rng.int(0, bits.length - 1);
    expect(map.get(b), `${what}: get(${b})`).toBe(bits[b] === 1);
  }
  const u16 = map.arena.u16;
  for (let p = 0; p < map.pages; p++) {
    const entry = map.entry(p);
    if (!isSparse(entry)) continue;
    expect(map.sparse, `${what}: a sparse page in a map that keeps none`).toBe(true);
    const n = sparseCount(map.arena, entry);
    expect(n, `${what}: page ${p} count`).toBeGreaterThan(0);
    expect(n, `${what}: page ${p} count`).toBeLessThanOrEqual(SPARSE_LIMIT);
    const list = ((entry - SPARSE_TAG) >>> 1) + 1;
    const want: number[] = [];
    for (let i = 0; i < PAGE_BLOCKS && p * PAGE_BLOCKS + i < bits.length; i++) if (bits[p * PAGE_BLOCKS + i]) want.push(i);
    expect(Array.from(u16.subarray(list, list + n)), `${what}: page ${p} bit list`).toEqual(want);
  }
}

function expectExactBytes(arena: Arena, maps: readonly PagedBitmap[], what: string): void {
  const held = maps.reduce((sum, map) => sum + map.bytesHeld(), 0);
  expect(arena.stats().bytesInUse, `${what}: bytes in use = bytes the maps hold`).toBe(held);
}

/**
 * Random writes that pile bits into a narrow window of a page and then take them away
 * again, so pages go past SPARSE_LIMIT and back under SPARSE_LOW; now and then whole
 * pages, ranges across pages, and single bits anywhere.
 */
function randomWrite(m: Modeled, rng: Prng, growing: boolean): void {
  const n = m.bits.length;
  const pick = rng.float();
  if (pick < 0.03) {
    const p = rng.int(0, m.map.pages - 1);
    m.setRange(p * PAGE_BLOCKS, Math.min(n, (p + 1) * PAGE_BLOCKS), rng.chance(0.5));
    return;
  }
  if (pick < 0.08) {
    const from = rng.int(0, n - 1);
    m.setRange(from, Math.min(n, from + rng.int(1, 2 * PAGE_BLOCKS)), rng.chance(0.3));
    return;
  }
  if (pick < 0.15) {
    const b = rng.int(0, n - 1);
    m.setRange(b, b + 1, rng.chance(0.5));
    return;
  }
  // The hot window of a page: its first 1024 bits (the last page may be short).
  const p = rng.int(0, m.map.pages - 1);
  const lo = p * PAGE_BLOCKS;
  const hi = Math.min(n, lo + 1024);
  const from = rng.int(lo, hi - 1);
  const len = growing ? rng.int(1, 24) : rng.int(1, 64);
  m.setRange(from, Math.min(hi, from + len), growing ? rng.chance(0.9) : rng.chance(0.1));
}

describe(`sparse pages written by PagedBitmap (${backend})`, () => {
  test('random set/clear/ranges/clone/assign/merge agree with a plain model; pages cross the threshold both ways', () => {
    const seed = testSeed('sparse-pages');
    const rng = new Prng(seed);
    const arena = newArena();
    const bits = 3 * PAGE_BLOCKS + rng.int(1, PAGE_BLOCKS - 1);
    let main = new Modeled(PagedBitmap.create(arena, bits, { sparse: true }));
    let sparseToDense = 0;
    let denseToSparse = 0;
    let merges = 0;
    const forms = () => Array.from({ length: main.map.pages }, (_, p) => formOf(main.map.entry(p)));
    let before = forms();
    for (let step = 0; step < 1500; step++) {
      const growing = Math.floor(step / 60) % 2 === 0;
      const what = `seed ${seed}, step ${step}`;
      const roll = rng.float();
      if (roll < 0.02) {
        // Carry on with a clone; the original must not change when the clone does.
        const copy = new Modeled(main.map.clone());
        copy.bits.set(main.bits);
        randomWrite(copy, rng, growing);
        expectAgrees(main, rng, `${what}: original after its clone was written`);
        main.map.free();
        main = copy;
      } else if (roll < 0.05) {
        // Merge another map in, of either form; it is consumed.
        const other = new Modeled(PagedBitmap.create(arena, bits, { sparse: rng.chance(0.7) }));
        for (let i = rng.int(0, 40); i > 0; i--) randomWrite(other, rng, true);
        main.map.mergeFrom(other.map);
        for (let b = 0; b < bits; b++) main.bits[b]! |= other.bits[b]!;
        expect(codeOf(() => other.map.table)).toBe('ERR_FREED');
        merges++;
      } else if (roll < 0.06) {
        const other = new Modeled(PagedBitmap.create(arena, bits, { sparse: rng.chance(0.5) }));
        for (let i = rng.int(0, 40); i > 0; i--) randomWrite(other, rng, true);
        main.map.assign(other.map);
        main.bits.set(other.bits);
        other.map.free();
      } else {
        randomWrite(main, rng, growing);
      }
      const after = forms();
      after.forEach((form, p) => {
        if (before[p] === 'sparse' && form === 'dense') sparseToDense++;
        if (before[p] === 'dense' && form === 'sparse') denseToSparse++;
      });
      before = after;
      if (step % 10 === 0 || step > 1490) {
        expectAgrees(main, rng, what);
        expectExactBytes(arena, [main.map], what);
      }
    }
    expect(merges, `seed ${seed}: merges run`).toBeGreaterThan(5);
    expect(sparseToDense, `seed ${seed}: pages that went sparse -> dense`).toBeGreaterThan(0);
    expect(denseToSparse, `seed ${seed}: pages that went dense -> sparse`).toBeGreaterThan(0);
    main.map.free();
    expect(arena.stats().bytesInUse).toBe(0);
  });

  test('the form at the threshold: dense past SPARSE_LIMIT, sparse again only at SPARSE_LOW (no flip per bit)', () => {
    const arena = newArena();
    const map = PagedBitmap.create(arena, 2 * PAGE_BLOCKS, { sparse: true });
    const at = PAGE_BLOCKS + 100;
    map.setRange(at, at + SPARSE_LIMIT);
    expect(formOf(map.entry(1))).toBe('sparse');
    expect(map.bytesHeld()).toBe(PAGE_BYTES + 512);
    map.set(at + SPARSE_LIMIT);
    expect(formOf(map.entry(1))).toBe('dense');
    expect(map.bytesHeld()).toBe(2 * PAGE_BYTES);
    // Back and forth across the limit: stays dense.
    for (let i = 0; i < 5; i++) {
      map.clear(at + SPARSE_LIMIT);
      expect(formOf(map.entry(1))).toBe('dense');
      map.set(at + SPARSE_LIMIT);
    }
    map.clearRange(at + SPARSE_LOW + 1, at + SPARSE_LIMIT + 1);
    expect(map.popcount()).toBe(SPARSE_LOW + 1);
    expect(formOf(map.entry(1))).toBe('dense');
    map.clear(at);
    expect(formOf(map.entry(1))).toBe('sparse');
    expect(sparseCount(arena, map.entry(1))).toBe(SPARSE_LOW);
    expect(map.bytesHeld()).toBe(PAGE_BYTES + 256);
    map.clearRange(at, at + PAGE_BLOCKS - 100);
    expect(formOf(map.entry(1))).toBe('zero');
    expect(arena.stats().bytesInUse).toBe(map.bytesHeld());
    // A range longer than the limit goes dense at once; a map without { sparse } never writes the form.
    map.setRange(5, 5 + SPARSE_LIMIT + 1);
    expect(formOf(map.entry(0))).toBe('dense');
    const plain = PagedBitmap.create(arena, PAGE_BLOCKS);
    plain.set(3);
    expect(formOf(plain.entry(0))).toBe('dense');
    plain.clear(3);
    expect(formOf(plain.entry(0))).toBe('dense');
    map.free();
    plain.free();
    expect(arena.stats().bytesInUse).toBe(0);
  });

  test('kernel counts and scans over maps PagedBitmap made sparse equal the model, plain and meta-aware', () => {
    const seed = testSeed('sparse-pages');
    const rng = new Prng(seed ^ 0x51a7);
    const arena = newArena();
    const blocks = 3 * PAGE_BLOCKS + rng.int(1, PAGE_BLOCKS - 1);
    for (let round = 0; round < 6; round++) {
      const what = `seed ${seed}, round ${round}`;
      const k = rng.int(1, 4);
      const maps = Array.from({ length: k }, (_, i) => new Modeled(PagedBitmap.create(arena, blocks, { sparse: i === 0 || rng.chance(0.8) })));
      for (const m of maps) for (let i = rng.int(5, 200); i > 0; i--) randomWrite(m, rng, rng.chance(0.7));
      // At least one sparse page for sure: a few bits in the first map's last page, cleared first.
      const last = (maps[0]!.map.pages - 1) * PAGE_BLOCKS;
      maps[0]!.setRange(last, blocks, false);
      for (let i = 0; i < 3; i++) {
        const b = rng.int(last, blocks - 1);
        maps[0]!.setRange(b, b + 1, true);
      }
      expect(maps[0]!.map.sparsePages(), `${what}: sparse pages made`).toBeGreaterThan(0);
      const bitmaps = maps.map((m) => m.map);
      const ref = refScan(maps.map((m) => m.bits), 0, blocks);
      expect(countDelta({ bitmaps }), `${what}: plain count`).toBe(ref.count);
      expect(deltaExtents({ bitmaps, batch: rng.int(1, 64) }), `${what}: plain extents`).toEqual(ref.extents);
      const from = rng.int(0, blocks - 1);
      const to = rng.int(from, blocks);
      const part = refScan(maps.map((m) => m.bits), from, to);
      expect(countDelta({ bitmaps, from, to }), `${what}: plain count [${from}, ${to})`).toBe(part.count);
      expect(deltaExtents({ bitmaps, from, to }), `${what}: plain extents [${from}, ${to})`).toEqual(part.extents);

      // Meta maps are dense (mostly in use, some granules not).
      const g = rng.pick([0, 3]);
      const metaBits = Math.ceil(blocks / 2 ** g);
      const metas = Array.from({ length: k + 1 }, () => {
        const m = new Modeled(PagedBitmap.create(arena, metaBits));
        m.setRange(0, metaBits, true);
        for (let i = rng.int(0, 30); i > 0; i--) {
          const at = rng.int(0, metaBits - 1);
          m.setRange(at, Math.min(metaBits, at + rng.int(1, 50)), false);
        }
        return m;
      });
      const meta = { metas: metas.slice(0, k).map((m) => m.map), live: metas[k]!.map, granularity: g };
      const refMeta = { metas: metas.slice(0, k).map((m) => m.bits), live: metas[k]!.bits, g };
      const refM = refScan(maps.map((m) => m.bits), 0, blocks, refMeta);
      expect(countDelta({ bitmaps, meta }), `${what}: meta count g=${g}`).toBe(refM.count);
      expect(deltaExtents({ bitmaps, meta }), `${what}: meta extents g=${g}`).toEqual(refM.extents);
      for (const m of [...maps, ...metas]) m.map.free();
      expect(arena.stats().bytesInUse, `${what}: all freed`).toBe(0);
    }
  });

  test('a map that keeps sparse pages is refused as a meta map, before anything is allocated', () => {
    const arena = newArena();
    const bitmap = PagedBitmap.create(arena, 1000, { sparse: true });
    const meta = PagedBitmap.create(arena, 1000, { sparse: true });
    meta.setRange(0, 1000);
    const before = arena.stats().bytesInUse;
    expect(codeOf(() => countDelta({ bitmaps: [bitmap], meta: { metas: [meta], live: meta, granularity: 0 } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(arena.stats().bytesInUse).toBe(before);
  });

  test('map files: sparse pages on disk as bit lists (version 2), dense maps as version 1; both load in either form', () => {
    const seed = testSeed('sparse-pages');
    const rng = new Prng(seed ^ 0xf11e);
    const arena = newArena();
    const bits = 4 * PAGE_BLOCKS - 7;
    const sparse = new Modeled(PagedBitmap.create(arena, bits, { sparse: true }));
    for (let i = 0; i < 300; i++) randomWrite(sparse, rng, true);
    // One page sure to be sparse, one sure to be dense.
    sparse.setRange(0, PAGE_BLOCKS, false);
    sparse.setRange(5, 9, true);
    sparse.setRange(PAGE_BLOCKS + 100, PAGE_BLOCKS + 100 + SPARSE_LIMIT + 50, true);
    expect(sparse.map.sparsePages()).toBeGreaterThan(0);
    const dense = PagedBitmap.create(arena, bits);
    dense.assign(sparse.map);
    expect(dense.sparsePages()).toBe(0);
    const v2 = encodeMap(sparse.map, 9);
    const v1 = encodeMap(dense, 9);
    expect(new TextDecoder().decode(v2.subarray(0, 8))).toBe('SCMAP002');
    expect(new TextDecoder().decode(v1.subarray(0, 8))).toBe('SCMAP001');
    expect(v2.length, `seed ${seed}: a sparse page costs its list on disk, not 4 KiB`).toBeLessThan(v1.length);
    const maps: PagedBitmap[] = [sparse.map, dense];
    // A page the map keeps dense with at most SPARSE_LIMIT bits (it passed the limit once
    // and was not cleared down to SPARSE_LOW since) loads sparse: written again, such a
    // map is its list, shorter than v2, and the same bytes from either file.
    const popcountOfPage = (p: number) => popcountBits(sparse.bits.subarray(p * PAGE_BLOCKS, (p + 1) * PAGE_BLOCKS));
    const keptDense = Array.from({ length: sparse.map.pages }, (_, p) => p)
      .filter((p) => formOf(sparse.map.entry(p)) === 'dense' && popcountOfPage(p) <= SPARSE_LIMIT);
    let sparseAgain: Uint8Array | undefined;
    for (const [file, form] of [[v1, true], [v1, false], [v2, true], [v2, false]] as const) {
      const what = `seed ${seed}: ${new TextDecoder().decode(file.subarray(0, 8))} loaded ${form ? 'sparse' : 'dense'}`;
      const loaded = decodeMap(arena, file, 'test', { sparse: form });
      maps.push(loaded.map);
      expect(loaded.extra).toBe(9);
      const again = new Modeled(loaded.map);
      again.bits.set(sparse.bits);
      expectAgrees(again, rng, what);
      // Loaded sparse, exactly the stored pages of at most SPARSE_LIMIT bits are sparse.
      for (let p = 0; p < loaded.map.pages; p++) {
        const entry = loaded.map.entry(p);
        if (entry <= ONES_PAGE) continue;
        let n = 0;
        for (let b = p * PAGE_BLOCKS; b < Math.min(bits, (p + 1) * PAGE_BLOCKS); b++) n += sparse.bits[b]!;
        expect(formOf(entry), `${what}: page ${p} of ${n} bits`).toBe(form && n <= SPARSE_LIMIT ? 'sparse' : 'dense');
      }
      const written = encodeMap(loaded.map, 9);
      if (!form || keptDense.length === 0) {
        expectSameBytes(written, form ? v2 : v1, `${what}: written again`);
      } else {
        expect(written.length, `${what}: pages ${keptDense} written as lists`).toBeLessThan(v2.length);
        sparseAgain ??= written;
        expectSameBytes(written, sparseAgain, `${what}: written again as from the other file`);
      }
    }
    for (const map of maps) map.free();
    expect(arena.stats().bytesInUse).toBe(0);
  });

  test('map files: a damaged version 2 file is ERR_CORRUPT and leaves nothing allocated', () => {
    const arena = newArena();
    const map = PagedBitmap.create(arena, 2 * PAGE_BLOCKS, { sparse: true });
    map.setRange(10, 13);
    map.set(PAGE_BLOCKS + 7);
    const good = encodeMap(map);
    map.free();
    const reseal = (bytes: Uint8Array) => {
      const view = new DataView(bytes.buffer);
      view.setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)), true);
      return bytes;
    };
    const listAt = 24 + 2; // after the header and the two kinds: page 0's count, then its bits
    const cases: Array<[string, Uint8Array]> = [
      ['a flipped bit', (() => { const b = good.slice(); b[listAt + 3]! ^= 1; return b; })()],
      ['truncated', good.slice(0, good.length - 3)],
      ['bits out of order', (() => { const b = good.slice(); new DataView(b.buffer).setUint16(listAt + 2, 12, true); return reseal(b); })()],
      ['a bit past the page', (() => { const b = good.slice(); new DataView(b.buffer).setUint16(listAt + 6, PAGE_BLOCKS, true); return reseal(b); })()],
      ['an empty sparse page', (() => { const b = good.slice(); new DataView(b.buffer).setUint16(listAt, 0, true); return reseal(b); })()],
      ['an unknown kind', (() => { const b = good.slice(); b[24] = 7; return reseal(b); })()],
    ];
    for (const [what, bytes] of cases) {
      expect(codeOf(() => decodeMap(arena, bytes, what, { sparse: true })), what).toBe('ERR_CORRUPT');
      expect(arena.stats().bytesInUse, `${what}: nothing left allocated`).toBe(0);
    }
    expect(decodeMap(arena, good, 'good', { sparse: true }).map.popcount()).toBe(4);
  });
});

describe(`the arena's small slots (${backend})`, () => {
  test('sizes, 16-byte alignment, reuse of freed slots, exact bytes in use', () => {
    const arena = newArena();
    const slots: Array<[number, number]> = [];
    for (const [bytes, size] of [[1, 64], [64, 64], [65, 128], [200, 256], [512, 512]] as const) {
      const at = arena.allocSmall(bytes);
      expect(at % 64).toBe(0);
      expect(arena.u8.subarray(at, at + size).every((x) => x === 0)).toBe(true);
      arena.u8.fill(0xab, at, at + size);
      slots.push([at, bytes]);
    }
    expect(arena.stats().bytesInUse).toBe(64 + 64 + 128 + 256 + 512);
    const slab = arena.stats().slabBytes;
    expect(slab).toBe(SMALL_SLOT_BYTES.length * PAGE_BYTES);
    for (const [at, bytes] of slots) arena.freeSmall(at, bytes);
    expect(arena.stats().bytesInUse).toBe(0);
    // Reused, zeroed again, and no new page carved.
    const again = arena.allocSmall(100);
    expect(slots.some(([at]) => at === again)).toBe(true);
    expect(arena.u8.subarray(again, again + 128).every((x) => x === 0)).toBe(true);
    expect(arena.stats().slabBytes).toBe(slab);
    // 64 slots of 64 bytes fill one page (the two freed above are among them); the 65th carves another.
    const many = Array.from({ length: 64 }, () => arena.allocSmall(64));
    expect(new Set(many).size).toBe(64);
    expect(arena.stats().slabBytes).toBe(slab);
    arena.allocSmall(64);
    expect(arena.stats().slabBytes).toBe(slab + PAGE_BYTES);
    expect(arena.stats().bytesInUse).toBe(128 + 65 * 64);
    for (const bytes of [0, -1, 1.5, NaN, 513]) {
      expect(codeOf(() => arena.allocSmall(bytes)), `allocSmall(${bytes})`).toBe('ERR_INVALID_ARGUMENT');
    }
  });
});

describe(`small slots in page order (${backend})`, () => {
  test('free slots come back lowest first, against a sorted model', () => {
    const seed = testSeed('free-slots');
    const rng = new Prng(seed);
    const slots = new FreeSlots();
    const model: number[] = [];
    for (let op = 0; op < 20000; op++) {
      if (model.length === 0 || rng.chance(0.55)) {
        const offset = 64 * rng.int(0, 1 << 16);
        if (model.includes(offset)) continue;
        slots.push(offset);
        model.push(offset);
        model.sort((x, y) => x - y);
      } else {
        expect(slots.pop(), `seed ${seed}, op ${op}`).toBe(model.shift());
      }
      expect(slots.size, `seed ${seed}, op ${op}`).toBe(model.length);
    }
    while (model.length > 0) expect(slots.pop(), `seed ${seed}: draining`).toBe(model.shift());
    expect(slots.pop()).toBe(undefined);
  });

  test('packSparse puts a map\'s slots at ascending offsets in page order; bits, forms and bytes held stay', () => {
    const seed = testSeed('pack-sparse');
    const rng = new Prng(seed);
    const arena = newArena();
    const bits = 40 * PAGE_BLOCKS - 3;
    // Two maps written by turns at random places, so their slots interleave out of page order.
    const maps = [0, 1].map(() => new Modeled(PagedBitmap.create(arena, bits, { sparse: true })));
    for (let i = 0; i < 3000; i++) {
      const m = rng.pick(maps);
      const b = rng.int(0, bits - 1);
      m.setRange(b, Math.min(bits, b + rng.pick([1, 1, 1, 3, 40])), rng.chance(0.9));
    }
    // A page past the limit (dense) and a full one stay as they are.
    maps[0]!.setRange(PAGE_BLOCKS, PAGE_BLOCKS + SPARSE_LIMIT + 9, true);
    maps[0]!.setRange(5 * PAGE_BLOCKS, 6 * PAGE_BLOCKS, true);
    // Slots of each size ascend in page order (a stream per size, read forwards).
    const ascending = (map: PagedBitmap) => {
      const last = new Map<number, number>();
      for (let p = 0; p < map.pages; p++) {
        const entry = map.entry(p);
        if (!isSparse(entry)) continue;
        const size = sparseSlotBytes(sparseCount(map.arena, entry));
        if (entry <= (last.get(size) ?? 0)) return false;
        last.set(size, entry);
      }
      return true;
    };
    expect(ascending(maps[0]!.map), `seed ${seed}: slots out of page order before packing`).toBe(false);
    const forms = maps.map((m) => Array.from({ length: m.map.pages }, (_, p) => formOf(m.map.entry(p))));
    const held = maps.map((m) => m.map.bytesHeld());
    const inUse = arena.stats().bytesInUse;
    const counts = maps.map((m) => m.map.popcount());
    for (const [i, m] of maps.entries()) {
      m.map.packSparse();
      const what = `seed ${seed}, map ${i} packed`;
      expect(ascending(m.map), `${what}: slots ascend in page order`).toBe(true);
      expect(Array.from({ length: m.map.pages }, (_, p) => formOf(m.map.entry(p))), `${what}: forms`).toEqual(forms[i]);
      expect(m.map.bytesHeld(), `${what}: bytes held`).toBe(held[i]);
      expect(m.map.popcount(), `${what}: popcount (kept counts)`).toBe(counts[i]);
      expectAgrees(m, rng, what);
    }
    expect(arena.stats().bytesInUse, `seed ${seed}: bytes in use`).toBe(inUse);
    expectExactBytes(arena, maps.map((m) => m.map), `seed ${seed}`);
    // The kernels read the packed maps as before.
    const want = refScan(maps.map((m) => m.bits), 0, bits);
    expect(deltaExtents({ bitmaps: maps.map((m) => m.map) }), `seed ${seed}: extents`).toEqual(want.extents);
    expect(countDelta({ bitmaps: maps.map((m) => m.map) }), `seed ${seed}: count`).toBe(want.count);
    // Writes after packing go on as usual, and a map with one sparse page or none packs to itself.
    maps[1]!.setRange(7, 9, true);
    expectAgrees(maps[1]!, rng, `seed ${seed}: written after packing`);
    const single = new Modeled(PagedBitmap.create(arena, PAGE_BLOCKS, { sparse: true }));
    single.setRange(3, 4, true);
    single.map.packSparse();
    expectAgrees(single, rng, `seed ${seed}: one sparse page`);
    expect(formOf(single.map.entry(0))).toBe('sparse');
    for (const m of [...maps, single]) m.map.free();
    expect(arena.stats().bytesInUse).toBe(0);
  });
});
