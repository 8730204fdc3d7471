// Volume.resize (issue 8, "Volumes"): growing adds blocks that read as zeros in the
// live volume and in every checkpoint, and deltas across the grow stay exact; shrinking
// is refused (ERR_IN_USE, naming the first block in use and where) while a block to be
// cut off is in use live or in any checkpoint, and bad sizes are ERR_INVALID_ARGUMENT;
// nothing changes on a refusal. A seeded random sequence of writes, discards,
// checkpoints, restores, resizes and reopens is checked against the plain model; a
// child killed with SIGKILL at random instants of resizes leaves the old size or the new,
// every image exact.
//
// Replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/volume/resize.test.ts

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DataDir, PagedBitmap, SnapcopyError, type Volume } from '../../src/index.js';
import { backend, newArena } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { content } from '../helpers/crash-content.mjs';
import { runOpChild } from '../helpers/op-child.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { firstDifferentBlock, VolumeModel } from '../helpers/volume-model.js';

const SEED = testSeed('resize');
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tempDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'snapcopy-resize-'));
  roots.push(root);
  return root;
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

async function refusal(action: Promise<unknown>): Promise<SnapcopyError> {
  const error = await action.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(SnapcopyError);
  return error as SnapcopyError;
}

/** Every image and delta of the volume against the model; returns the problems. */
async function problems(vol: Volume, model: VolumeModel, prng: Prng): Promise<string[]> {
  const out: string[] = [];
  const bs = model.blockSize;
  if (vol.blocks !== model.blocks) return [`the volume has ${vol.blocks} blocks, the model ${model.blocks}`];
  const live = await vol.read(0, vol.size);
  const bad = firstDifferentBlock(live, model.image, bs);
  if (bad >= 0) out.push(`live block ${bad} differs`);
  const names = vol.listCheckpoints().map((c) => c.name);
  if (names.join() !== model.checkpoints.map((c) => c.name).join()) out.push(`checkpoints [${names}], model [${model.checkpoints.map((c) => c.name)}]`);
  for (const c of model.checkpoints) {
    const b = firstDifferentBlock(await vol.read(0, vol.size, { checkpoint: c.name }), c.image, bs);
    if (b >= 0) out.push(`checkpoint ${c.name} block ${b} differs`);
  }
  // Deltas: every checkpoint to live, and a random pair, exact and near-minimal.
  const pairs: Array<[string | null, string | undefined]> = [[null, undefined]];
  for (const c of model.checkpoints) pairs.push([c.name, undefined]);
  if (model.checkpoints.length >= 2) {
    const i = prng.int(0, model.checkpoints.length - 2);
    pairs.push([model.checkpoints[i]!.name, model.checkpoints[prng.int(i + 1, model.checkpoints.length - 1)]!.name]);
  }
  for (const [older, newer] of pairs) {
    for (const p of model.checkDelta(older, newer, await collect(vol.delta(older, newer)))) out.push(`delta(${older}, ${newer ?? 'live'}): ${p}`);
  }
  return out;
}

describe('resize', () => {
  test('a paged bit map resized across pages keeps its bits, drops those cut off and reads zeros past the old end', () => {
    const prng = new Prng(SEED ^ 0xb17);
    const arena = newArena();
    const page = 32768;
    const map = PagedBitmap.create(arena, 3 * page + 500);
    const plain = new Uint8Array(3 * page + 500);
    const set = (from: number, to: number) => {
      map.setRange(from, to);
      plain.fill(1, from, to);
    };
    set(page, 2 * page); // a whole page: a ONES_PAGE entry
    for (let i = 0; i < 40; i++) {
      const from = prng.int(0, plain.length - 1);
      set(from, Math.min(plain.length, from + prng.int(1, 3000)));
    }
    set(plain.length - 10, plain.length); // up to the old end
    const check = (bits: number) => {
      expect(map.bits).toBe(bits);
      let count = 0;
      for (let b = 0; b < bits; b++) {
        const want = b < plain.length ? plain[b]! : 0;
        if (map.get(b) !== (want === 1)) throw new Error(`bit ${b} is ${map.get(b)}, expected ${want === 1} (${bits} bits)`);
        count += want;
      }
      expect(map.popcount()).toBe(count);
    };
    for (const bits of [page + 77, 5 * page + 3, page + 77, 10, 2 * page]) {
      map.resize(bits);
      if (bits < plain.length) plain.fill(0, bits);
      check(bits);
    }
    map.free();
  });

  test('bad sizes are ERR_INVALID_ARGUMENT; a shrink over blocks in use is ERR_IN_USE naming the block and where; nothing changes', async () => {
    const dd = await DataDir.open(tempDir(), { kernels: backend });
    try {
      const bs = 4096;
      const vol = await dd.createVolume('v', { size: 64 * bs, blockSize: bs, granularity: 1 });
      await vol.write(40 * bs, new Uint8Array(bs).fill(7));
      await vol.createCheckpoint('c');
      await vol.discard(40 * bs, 2 * bs);
      const before = await vol.read(0, vol.size);
      for (const size of [0, -bs, bs + 1, 1.5 * bs, Number.NaN, 2 ** 31 * bs + bs]) {
        expect((await refusal(vol.resize(size))).code, String(size)).toBe('ERR_INVALID_ARGUMENT');
      }
      // Block 40 is unused live but in use in checkpoint c.
      const inUse = await refusal(vol.resize(16 * bs));
      expect(inUse.code).toBe('ERR_IN_USE');
      expect(inUse.message).toContain('block 40');
      expect(inUse.message).toContain('checkpoint c');
      await vol.write(50 * bs + 3, new Uint8Array([1]));
      const live = await refusal(vol.resize(45 * bs));
      expect(live.message).toMatch(/block 50 .*live/);
      expect(vol.size).toBe(64 * bs);
      before.set([1], 50 * bs + 3);
      expect(Buffer.compare(await vol.read(0, vol.size), before)).toBe(0);
      // With c gone and block 50 discarded, the shrink goes through; it survives a reopen.
      await vol.deleteCheckpoint('c');
      await vol.discard(50 * bs, 2 * bs);
      await vol.resize(40 * bs);
      expect(vol.size).toBe(40 * bs);
      await expect(vol.read(40 * bs, 1)).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
      await vol.resize(100 * bs);
      expect(Buffer.compare(await vol.read(0, 100 * bs), Buffer.concat([before.subarray(0, 40 * bs), new Uint8Array(60 * bs)]))).toBe(0);
    } finally {
      await dd.close();
    }
  });

  test('a restore brings back into use a granule a grow lengthened after the checkpoint; its new block may be in deltas (g=1)', async () => {
    // Seed 1028336416 shrunk: at 13 blocks granule 6 is block 12 alone; in use in c,
    // discarded live, so the grow to 14 leaves block 13 in use in c only. After restore c
    // it is in use live, never written: a delta may carry it (its granule came into use),
    // as the model, which once called it unchanged since time -1, now agrees.
    const bs = 1024;
    const dd = await DataDir.open(tempDir(), { kernels: backend });
    try {
      const vol = await dd.createVolume('v', { size: 13 * bs, blockSize: bs, granularity: 1 });
      const model = new VolumeModel(13, bs, 1);
      const data = new Uint8Array(bs).fill(0x5a);
      await vol.write(12 * bs, data);
      model.write(12 * bs, data);
      await vol.createCheckpoint('c');
      model.createCheckpoint('c');
      await vol.discard(12 * bs, bs);
      model.discard(12, 1);
      await vol.resize(14 * bs);
      model.resize(14);
      await vol.restore('c');
      model.restore('c');
      expect(model.inUse(13)).toBe(true);
      const full = (await collect(vol.delta(null))).map((e) => [e.kind, e.start, e.count]);
      expect(full).toContainEqual(['data', 12, 2]);
      expect(await problems(vol, model, new Prng(0))).toEqual([]);
    } finally {
      await dd.close();
    }
  });

  test.each([0, 1, 3])('a seeded random sequence with grows and shrinks agrees with the model (g=%i)', async (g) => {
    const prng = new Prng(SEED ^ (g * 0x9e37));
    const path = tempDir();
    let dd = await DataDir.open(path, { kernels: backend });
    const bs = 1024;
    let blocks = prng.int(20, 90);
    let vol = await dd.createVolume('v', { size: blocks * bs, blockSize: bs, granularity: g });
    const model = new VolumeModel(blocks, bs, g);
    const log: string[] = [];
    let names = 0;
    try {
      for (let op = 0; op < 150; op++) {
        const r = prng.float();
        blocks = model.blocks;
        if (r < 0.35) {
          const length = prng.int(1, Math.min(blocks * bs, 6 * bs));
          const offset = prng.int(0, blocks * bs - length);
          const data = prng.fill(new Uint8Array(length));
          log.push(`write(${offset}, ${length})`);
          await vol.write(offset, data);
          model.write(offset, data);
        } else if (r < 0.45) {
          const count = prng.int(1, Math.min(blocks, 12));
          const first = prng.int(0, blocks - count);
          log.push(`discard(${first}, ${count})`);
          await vol.discard(first * bs, count * bs);
          model.discard(first, count);
        } else if (r < 0.55 && model.checkpoints.length < 5) {
          const name = `c${names++}`;
          log.push(`checkpoint ${name}`);
          await vol.createCheckpoint(name);
          model.createCheckpoint(name);
        } else if (r < 0.62 && model.checkpoints.length > 0) {
          const name = prng.pick(model.checkpoints).name;
          log.push(`delete ${name}`);
          await vol.deleteCheckpoint(name);
          model.deleteCheckpoint(name);
        } else if (r < 0.68 && model.checkpoints.length > 0) {
          const name = prng.pick(model.checkpoints).name;
          log.push(`restore ${name}`);
          await vol.restore(name);
          model.restore(name);
        } else if (r < 0.80) {
          const to = prng.int(blocks + 1, blocks + 40);
          log.push(`grow ${blocks} -> ${to}`);
          await vol.resize(to * bs);
          model.resize(to);
        } else if (r < 0.94) {
          // Shrink, often to just past the last block in use, so some go through.
          let last = -1;
          for (let b = blocks - 1; b >= 0 && last < 0; b--) {
            if (model.inUse(b) || model.checkpoints.some((c) => model.inUse(b, c.meta))) last = b;
          }
          const to = prng.chance(0.6) ? Math.max(1, last + 1 + prng.int(0, 3)) : prng.int(1, blocks);
          if (to >= blocks) continue;
          const blocked = model.inUsePast(to);
          log.push(`shrink ${blocks} -> ${to}${blocked ? ` (refused: block ${blocked.block} in ${blocked.where})` : ''}`);
          if (blocked) {
            const error = await refusal(vol.resize(to * bs));
            expect(error.code).toBe('ERR_IN_USE');
            expect(error.message).toContain(`block ${blocked.block} `);
            expect(error.message).toContain(blocked.where === 'live' ? 'live' : `checkpoint ${blocked.where}`);
          } else {
            await vol.resize(to * bs);
            model.resize(to);
          }
        } else {
          log.push('reopen');
          await dd.close();
          dd = await DataDir.open(path, { kernels: backend });
          vol = await dd.volume('v');
        }
        if (op % 10 === 9 || log[log.length - 1]!.startsWith('shrink') || log[log.length - 1]!.startsWith('grow')) {
          const found = await problems(vol, model, prng);
          expect(found, `seed ${SEED}, g=${g}, after ${log.slice(-8).join('; ')}`).toEqual([]);
        }
      }
      expect(log.filter((l) => l.startsWith('shrink') && !l.includes('refused')).length).toBeGreaterThan(0);
      expect(log.filter((l) => l.startsWith('grow')).length).toBeGreaterThan(0);
    } finally {
      await dd.close();
    }
  });
});

describe('a crash mid-resize', () => {
  beforeAll(ensureBuilt, 300_000);

  test('a child killed at random instants of resizes leaves the old size or the new, every image exact', async () => {
    const prng = new Prng(SEED ^ 0x7e51);
    const path = tempDir();
    const bs = 4096;
    const model = new VolumeModel(256, bs, 1);
    {
      const dd = await DataDir.open(path, { kernels: backend });
      const vol = await dd.createVolume('v', { size: 256 * bs, blockSize: bs, granularity: 1 });
      for (let i = 0; i < 3; i++) {
        const offset = prng.int(0, 60) * bs + prng.int(0, 100);
        const data = content(i + 1, offset, 20 * bs);
        await vol.write(offset, data);
        model.write(offset, data);
        await vol.createCheckpoint(`c${i}`);
        model.createCheckpoint(`c${i}`);
      }
      await dd.close();
    }
    let learned = 30;
    const outcomes: string[] = [];
    for (let round = 0; round < 12; round++) {
      const grow = round % 2 === 0;
      const to = grow ? model.blocks + prng.int(1, 300) : prng.int(100, model.blocks - 1);
      const delay = prng.int(0, learned);
      const run = await runOpChild(path, { op: 'resize', size: to * bs }, delay);
      if (run.ms !== undefined) learned = Math.max(learned, run.ms + 20);
      const dd = await DataDir.open(path, { kernels: backend, create: false });
      try {
        const vol = await dd.volume('v');
        const where = `round ${round} (seed ${SEED}, resize ${model.blocks} -> ${to}, kill at ${delay} ms)`;
        expect([model.blocks, to], where).toContain(vol.blocks);
        if (run.done) expect(vol.blocks, where).toBe(to);
        outcomes.push(vol.blocks === to ? 'new' : 'old');
        if (vol.blocks === to) model.resize(to);
        expect(statSync(join(path, 'volumes', 'v', 'data')).size, where).toBe(vol.size);
        expect(await problems(vol, model, prng), where).toEqual([]);
        // A write past the old end after a grow: its before-images go to the tail and the checkpoints stay exact.
        const offset = prng.int(0, model.blocks - 10) * bs;
        const data = content(100 + round, offset, 5 * bs);
        await vol.write(offset, data);
        model.write(offset, data);
        // Keep what lies past 100 blocks unused, so the next shrink can go through.
        await vol.discard(100 * bs, (model.blocks - 100) * bs);
        model.discard(100, model.blocks - 100);
        if (round === 5) {
          await vol.createCheckpoint('late');
          model.createCheckpoint('late');
        }
      } finally {
        await dd.close();
      }
    }
    console.log(`[resize] crash outcomes: ${outcomes.join(' ')}`);
  }, 240_000);
});
