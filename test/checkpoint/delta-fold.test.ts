// Folding a delta's interval (src/checkpoint/delta-fold.ts): past the map cache's room
// the interval's bit maps are OR'ed into one and its meta maps AND'ed into one, and the
// delta must be exactly the one of the plain plan. Checked on random histories (writes,
// discards, checkpoints, deletes, resizes; up to ~60 checkpoints) for random pairs
// (L, M), with random parts of the interval staged beforehand and random amounts staged
// by the plan: against the unfolded plan, against the formula evaluated block by block
// on the staged maps, and against the plain volume model (test/helpers/volume-model.ts).
// Seeded (printed; replay with SNAPCOPY_SEED=<seed> npx vitest run test/checkpoint/delta-fold.test.ts).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Arena, DataDir, PagedBitmap, type Volume } from '../../src/index.js';
import { mapCacheOf } from '../../src/checkpoint/checkpoint.js';
import { type DeltaPlan, deltaChunks, deltaExtents, deltaSize, type PlanOptions, planDelta } from '../../src/checkpoint/delta.js';
import type { VolumeCore } from '../../src/engine/core.js';
import { openVolumeCore } from '../../src/engine/open.js';
import { PAGE_BLOCKS } from '../../src/kernels/api.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { VolumeModel } from '../helpers/volume-model.js';

const SEED = testSeed('delta-fold');
const BLOCK = 512;
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'snapcopy-fold-'));
  roots.push(root);
  return root;
}

function caseSeed(salt: number): number {
  return (Math.imul(SEED ^ (salt * 0x9e37), 0x01000193) >>> 0) & 0x7fffffff;
}

/** A map of `bits` bits whose pages are, at random, empty, full, a few bits, or dense random; and its bits as bytes. */
function randomMap(arena: Arena, bits: number, prng: Prng): { map: PagedBitmap; model: Uint8Array } {
  const map = PagedBitmap.create(arena, bits);
  const model = new Uint8Array(bits);
  for (let p = 0, lo = 0; lo < bits; p++, lo += PAGE_BLOCKS) {
    const hi = Math.min(bits, lo + PAGE_BLOCKS);
    const kind = prng.int(0, 3);
    if (kind === 1) {
      map.setRange(lo, hi);
      model.fill(1, lo, hi);
    } else if (kind === 2) {
      for (let n = prng.int(1, 40); n > 0; n--) {
        const b = prng.int(lo, hi - 1);
        map.set(b);
        model[b] = 1;
      }
    } else if (kind === 3) {
      const page = prng.fill(new Uint8Array(PAGE_BLOCKS / 8));
      for (let b = lo; b < lo + PAGE_BLOCKS; b++) {
        const at = b - lo;
        if (b >= hi) page[at >>> 3]! &= ~(1 << (at & 7)); // bits past the end stay zeros
        else model[b] = (page[at >>> 3]! >>> (at & 7)) & 1;
      }
      map.loadPage(p, page);
    }
  }
  return { map, model };
}

function bitsOf(map: PagedBitmap): Uint8Array {
  const bytes = map.toBytes();
  const bits = new Uint8Array(map.bits);
  for (let b = 0; b < map.bits; b++) bits[b] = (bytes[b >>> 3]! >>> (b & 7)) & 1;
  return bits;
}

/** The first index where two arrays differ, -1 when they are equal (toEqual on big arrays is slow). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  return a.findIndex((x, i) => x !== b[i]);
}

describe(`PagedBitmap.andWith (${backend} kernels)`, () => {
  it('intersects page by page as a plain AND of bits, leaves the other map alone, and frees pages that empty', () => {
    const prng = new Prng(caseSeed(1));
    const arena = new Arena({ kernels: backend });
    for (let round = 0; round < 12; round++) {
      const bits = prng.int(1, 4) * PAGE_BLOCKS + prng.int(0, PAGE_BLOCKS - 1);
      const before = arena.stats().bytesInUse;
      const a = randomMap(arena, bits, prng);
      const b = randomMap(arena, bits, prng);
      a.map.andWith(b.map);
      const want = a.model.map((bit, i) => bit & b.model[i]!);
      expect(firstDifference(bitsOf(a.map), want), `first wrong bit, round ${round} (SNAPCOPY_SEED=${SEED})`).toBe(-1);
      expect(firstDifference(bitsOf(b.map), b.model), 'first bit of the other map changed').toBe(-1);
      for (let p = 0; p < a.map.pages; p++) {
        if (!want.subarray(p * PAGE_BLOCKS, (p + 1) * PAGE_BLOCKS).includes(1)) expect(a.map.entry(p), `page ${p} is empty`).toBe(0);
      }
      a.map.free();
      b.map.free();
      expect(arena.stats().bytesInUse).toBe(before);
    }
  });

  it('refuses maps of other sizes and maps that keep sparse pages, changing nothing', () => {
    const arena = new Arena({ kernels: backend });
    const a = PagedBitmap.create(arena, 100);
    a.setRange(0, 100);
    expect(() => a.andWith(PagedBitmap.create(arena, 101))).toThrow(/match in size/);
    expect(() => a.andWith(PagedBitmap.create(arena, 100, { sparse: true }))).toThrow(/sparse/);
    expect(a.popcount()).toBe(100);
  });
});

/** A random history of one volume: about `checkpoints` checkpoints with writes, discards, deletes and resizes between them. */
async function buildHistory(vol: Volume, model: VolumeModel, prng: Prng, checkpoints: number, log: string[]): Promise<void> {
  let made = 0;
  while (made < checkpoints) {
    const r = prng.int(0, 99);
    const blocks = model.blocks;
    if (r < 45) {
      const start = prng.int(0, blocks - 1);
      const count = Math.min(prng.runLength(6), blocks - start);
      const data = prng.chance(0.1) ? new Uint8Array(count * BLOCK) : prng.fill(new Uint8Array(count * BLOCK));
      log.push(`write ${start}+${count}`);
      await vol.write(start * BLOCK, data);
      model.write(start * BLOCK, data);
    } else if (r < 65) {
      const start = prng.int(0, blocks - 1);
      const count = Math.min(prng.runLength(12), blocks - start);
      log.push(`discard ${start}+${count}`);
      await vol.discard(start * BLOCK, count * BLOCK);
      model.discard(start, count);
    } else if (r < 90) {
      const name = `c${made++}`;
      log.push(`checkpoint ${name}`);
      await vol.createCheckpoint(name);
      model.createCheckpoint(name);
    } else if (r < 94 && model.checkpoints.length > 2) {
      const name = prng.pick(model.checkpoints).name;
      log.push(`delete ${name}`);
      await vol.deleteCheckpoint(name);
      model.deleteCheckpoint(name);
    } else if (r < 97) {
      const grown = Math.min(blocks + prng.int(1, 300), 2400);
      log.push(`resize ${grown}`);
      await vol.resize(grown * BLOCK);
      model.resize(grown);
    } else {
      const shrunk = Math.max(64, blocks - prng.int(1, 200));
      if (model.inUsePast(shrunk)) continue;
      log.push(`resize ${shrunk}`);
      await vol.resize(shrunk * BLOCK);
      model.resize(shrunk);
    }
  }
}

function extentsOf(plan: DeltaPlan): Array<[string, number, number]> {
  return [...deltaExtents(plan)].map((e) => [e.kind, e.start, e.count]);
}

/** The data blocks of delta(L, M) by the formula, block by block on the staged maps: metaM & OR_I(bitmap_I | ~meta_I). */
async function formulaData(core: VolumeCore, from: number, to: number): Promise<Array<[string, number, number]>> {
  const g = core.record.granularity;
  const interval = core.checkpoints.slice(from, to);
  const maps = [];
  for (const c of interval) maps.push({ bitmap: (await c.maps()).bitmap, meta: await c.meta() });
  const live = to < core.checkpoints.length ? await core.checkpoints[to]!.meta() : core.liveMeta;
  const extents: Array<[string, number, number]> = [];
  for (let b = 0; b < core.record.blocks; b++) {
    const data = live.get(b >>> g) && maps.some((m) => m.bitmap.get(b) || !m.meta.get(b >>> g));
    if (!data) continue;
    const last = extents[extents.length - 1];
    if (last && last[1] + last[2] === b) last[2]++;
    else extents.push(['data', b, 1]);
  }
  return extents;
}

/** Unstages every checkpoint but the tail (its maps are live), then stages a random part of some again. */
async function shuffleStaging(core: VolumeCore, prng: Prng): Promise<void> {
  const tail = core.checkpoints[core.checkpoints.length - 1];
  for (const c of core.checkpoints) {
    if (c === tail) continue;
    await c.unload();
    const r = prng.int(0, 9);
    if (r === 0) await c.maps();
    else if (r === 1) await c.meta();
    else if (r === 2) {
      await c.maps();
      await c.meta();
    }
  }
}

describe(`a delta across many checkpoints, folded (${backend} kernels)`, () => {
  for (const g of [0, 2]) {
    it(`gives the extents and counts of the unfolded plan, the formula and the model (granularity ${g})`, async () => {
      const prng = new Prng(caseSeed(10 + g));
      const root = tempRoot();
      const dir = await DataDir.open(join(root, 'data'), { kernels: backend, mapCacheBytes: 1 << 30 });
      const vol = await dir.createVolume('v', { size: 1536 * BLOCK, blockSize: BLOCK, granularity: g });
      const model = new VolumeModel(1536, BLOCK, g);
      const log: string[] = [];
      const checkpoints = prng.int(40, 60);
      await buildHistory(vol, model, prng, checkpoints, log);
      const label = (what: string) => `granularity ${g}, ${what} (SNAPCOPY_SEED=${SEED}; history: ${log.slice(-20).join(', ')} ...)`;

      // Through the public API with a cap that holds almost nothing: the plan folds, and
      // while it runs only the tail and the one checkpoint a plan always stages are staged.
      const cache = mapCacheOf(dir.arena);
      cache.capBytes = 1;
      await cache.trim();
      const names = model.checkpoints.map((c) => c.name);
      for (let i = 0; i < 4; i++) {
        const older = names[i === 0 ? 0 : prng.int(0, names.length - 1)]!;
        const extents = [];
        let staged = 0;
        for await (const e of vol.diff(older)) {
          extents.push(e);
          staged = Math.max(staged, cache.stats().checkpoints);
        }
        const problems = model.checkDelta(older, undefined, extents);
        expect(problems.slice(0, 5), label(`diff(${older}, live) through the volume`)).toEqual([]);
        expect(staged, label(`checkpoints staged during diff(${older}, live) of ${names.length}`)).toBeLessThanOrEqual(2);
      }
      await dir.close();

      const arena = new Arena({ kernels: backend });
      const core = await openVolumeCore(join(root, 'data', 'volumes', 'v'), arena);
      try {
        expect(core.checkpoints.map((c) => c.name)).toEqual(names);
        let folded = 0;
        for (let pair = 0; pair < 24; pair++) {
          const from = prng.int(0, names.length - 1);
          const to = prng.int(from + 1, names.length); // names.length: the live volume
          const older = core.checkpoints[from]!;
          const newer = to < names.length ? core.checkpoints[to]! : null;
          const what = `delta(${older.name}, ${newer?.name ?? 'live'})`;
          const coverBetween = prng.chance(0.3);

          const plain = await planDelta(core, older, newer, { coverBetween, fold: { stageBytes: Infinity } });
          const want = extentsOf(plain);
          const wantSize = deltaSize(core, plain);
          plain.free();
          const formula = await formulaData(core, from, to);
          expect(want.filter((e) => e[0] === 'data'), label(`${what}: the plain plan against the formula`)).toEqual(formula);

          await shuffleStaging(core, prng);
          await (newer ? newer.meta() : Promise.resolve());
          const inUse = arena.stats().bytesInUse;
          const fold: PlanOptions['fold'] = { stageBytes: 0, stageAtLeast: prng.chance(0.5) ? 0 : prng.int(1, 4) };
          const plan = await planDelta(core, older, newer, { coverBetween, fold });
          const got = extentsOf(plan);
          expect(got, label(`${what} folded (${JSON.stringify(fold)}, coverBetween ${coverBetween})`)).toEqual(want);
          expect(deltaSize(core, plan), label(`${what} folded: size`)).toEqual(wantSize);
          folded += plan.data.bitmaps.length < to - from ? 1 : 0;
          plan.free();
          // Folding stages nothing: the arena is back where it was unless the plan staged some (stageAtLeast).
          if (fold.stageAtLeast === 0) expect(arena.stats().bytesInUse, label(`${what}: arena bytes after free`)).toBe(inUse);
          if (!coverBetween && pair % 3 === 0) {
            // The data, read as an export reads it (the read path stages the younger checkpoints' save volumes).
            const again = await planDelta(core, older, newer, { fold });
            const chunks = [];
            for await (const chunk of deltaChunks(core, again)) chunks.push(chunk);
            again.free();
            const problems = model.checkDelta(older.name, newer?.name, chunks);
            expect(problems.slice(0, 5), label(`${what} folded against the model`)).toEqual([]);
          }
        }
        expect(folded, label('pairs whose plan folded')).toBeGreaterThan(0);
      } finally {
        for (const c of core.checkpoints) await c.unload();
        await core.wal.close();
        await core.data.close();
        core.liveMeta.free();
      }
    });
  }
});
