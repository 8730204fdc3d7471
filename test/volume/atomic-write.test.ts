// One write is one atomic change, however large (issue 8, "All or nothing"):
// Volume.writeFrom streams its input through a stage and commits once; an input that
// runs past the end (or does not hold the size given, or fails) changes nothing; a
// write larger than one step through Volume.write goes the same way; and a child
// process killed with SIGKILL at random instants of a 24 MiB write leaves the volume
// wholly before or wholly after it.
//
// Replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/volume/atomic-write.test.ts

import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DataDir, SnapcopyError, type Volume } from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { content } from '../helpers/crash-content.mjs';
import { runOpChild } from '../helpers/op-child.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { VolumeModel } from '../helpers/volume-model.js';

const SEED = testSeed('atomic-write');
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tempDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'snapcopy-atomic-'));
  roots.push(root);
  return root;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

/** `bytes` in pieces of `piece` bytes. */
async function* piecesOf(bytes: Uint8Array, piece: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += piece) yield bytes.subarray(at, at + piece);
}

/** Pieces, then a failure of the input itself (a broken pipe). */
async function* failingAfter(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
  throw new Error('the input broke');
}

async function codeOf(action: Promise<unknown>): Promise<string> {
  const error = await action.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(SnapcopyError);
  return (error as SnapcopyError).code;
}

/** Everything a refused write must leave as it was. */
async function snapshot(vol: Volume): Promise<{ image: Uint8Array; base: string | null; ckpts: string }> {
  return { image: await vol.read(0, vol.size), base: vol.base, ckpts: JSON.stringify(vol.listCheckpoints()) };
}

describe('writeFrom: one atomic change', () => {
  test('many pieces at any offset read back as the model says, at every granularity, with checkpoints kept exact', async () => {
    const prng = new Prng(SEED);
    for (const g of [0, 2]) {
      const dd = await DataDir.open(tempDir(), { kernels: backend });
      try {
        const bs = 4096;
        const blocks = 2048; // 8 MiB: writes of several 4 MiB steps
        const vol = await dd.createVolume('v', { size: blocks * bs, blockSize: bs, granularity: g });
        const model = new VolumeModel(blocks, bs, g);
        for (let round = 0; round < 6; round++) {
          if (round === 3) {
            await vol.createCheckpoint('mid');
            model.createCheckpoint('mid');
          }
          const length = prng.int(1, 6 << 20);
          const offset = prng.int(0, blocks * bs - length);
          const data = prng.fill(new Uint8Array(length));
          const written = await vol.writeFrom(offset, piecesOf(data, prng.int(1, 300_000)), { size: length });
          expect(written).toBe(length);
          model.write(offset, data);
          expect(same(await vol.read(0, vol.size), model.image), `g=${g} round ${round}`).toBe(true);
        }
        expect(same(await vol.read(0, vol.size, { checkpoint: 'mid' }), model.find('mid').image)).toBe(true);
        expect(model.checkDelta('mid', undefined, await collectChunks(vol, 'mid'))).toEqual([]);
        expect(readdirSync(join(dd.path, 'volumes', 'v')).filter((f) => f.endsWith('.stage'))).toEqual([]);
      } finally {
        await dd.close();
      }
    }
  });

  test('an input running past the end, short of its size, or failing changes nothing and leaves no stage', async () => {
    const dd = await DataDir.open(tempDir(), { kernels: backend });
    try {
      const bs = 4096;
      const vol = await dd.createVolume('v', { size: 2048 * bs, blockSize: bs, granularity: 1 });
      await vol.write(100, content(1, 100, 50_000));
      await vol.createCheckpoint('c');
      await vol.write(9000, content(2, 9000, 300));
      const before = await snapshot(vol);
      const big = content(3, 0, 6 << 20);
      // Past the end: found once the input gets there (no size given).
      expect(await codeOf(vol.writeFrom(vol.size - (5 << 20), piecesOf(big, 1 << 20)))).toBe('ERR_OUT_OF_RANGE');
      // Past the end by the size given: refused before any input is read.
      let pulled = 0;
      async function* counting() {
        pulled++;
        yield big;
      }
      expect(await codeOf(vol.writeFrom(vol.size - 10, counting(), { size: 11 }))).toBe('ERR_OUT_OF_RANGE');
      expect(pulled).toBe(0);
      // Not the size given, either way.
      expect(await codeOf(vol.writeFrom(0, piecesOf(big, 1 << 20), { size: big.length + 1 }))).toBe('ERR_INVALID_ARGUMENT');
      expect(await codeOf(vol.writeFrom(0, piecesOf(big, 1 << 20), { size: big.length - 1 }))).toBe('ERR_INVALID_ARGUMENT');
      // Bad arguments.
      expect(await codeOf(vol.writeFrom(-1, piecesOf(big, 1 << 20)))).toBe('ERR_INVALID_ARGUMENT');
      expect(await codeOf(vol.writeFrom(0, big as unknown as AsyncIterable<Uint8Array>))).toBe('ERR_INVALID_ARGUMENT');
      // A failing input: its own error, and nothing changed.
      await expect(vol.writeFrom(0, failingAfter(big))).rejects.toThrow('the input broke');
      const after = await snapshot(vol);
      expect(same(after.image, before.image)).toBe(true);
      expect({ ...after, image: undefined }).toEqual({ ...before, image: undefined });
      expect(existsSync(join(dd.path, 'volumes', 'v', 'write.stage'))).toBe(false);
      // Volume.write with more than one step past the end is refused up front, as before.
      expect(await codeOf(vol.write(vol.size - 100, big))).toBe('ERR_OUT_OF_RANGE');
      // An empty input writes nothing and keeps the base.
      await vol.createCheckpoint('d');
      expect(await vol.writeFrom(5, piecesOf(new Uint8Array(0), 1))).toBe(0);
      expect(vol.base).toBe(vol.listCheckpoints()[1]!.image);
    } finally {
      await dd.close();
    }
  });

  test('progress is heard as the input is taken in', async () => {
    const dd = await DataDir.open(tempDir(), { kernels: backend });
    try {
      const vol = await dd.createVolume('v', { size: 16 << 20, blockSize: 8192 });
      const heard: Array<[number, number]> = [];
      const data = content(4, 0, 5 << 20);
      await vol.writeFrom(0, piecesOf(data, 1 << 20), { size: data.length, onProgress: (n, total) => heard.push([n, total]) });
      expect(heard.reduce((n, [b]) => n + b, 0)).toBe(data.length);
      expect(heard.every(([, total]) => total === data.length)).toBe(true);
    } finally {
      await dd.close();
    }
  });
});

async function collectChunks(vol: Volume, older: string) {
  const out = [];
  for await (const chunk of vol.delta(older)) out.push(chunk);
  return out;
}

describe('a crash mid-write', () => {
  beforeAll(ensureBuilt, 300_000);

  test('a child killed at random instants of a 24 MiB write leaves the volume wholly old or wholly new', async () => {
    const prng = new Prng(SEED ^ 0x5eed);
    const path = tempDir();
    const bs = 4096;
    const size = 26 << 20;
    {
      const dd = await DataDir.open(path, { kernels: backend });
      await dd.createVolume('v', { size, blockSize: bs, granularity: 1 });
      await dd.close();
    }
    let image = new Uint8Array(size);
    let learned = 0;
    let checkpointImage = image;
    const outcomes: string[] = [];
    for (let round = 1; round <= 10; round++) {
      // Off block edges at both ends, so the edge blocks merge old and new.
      const offset = prng.int(1, 3 * bs) + (round % 2) * (1 << 20);
      const length = (24 << 20) - prng.int(1, 3 * bs);
      const op = { op: 'writeFrom', id: round, offset, length, piece: prng.int(4096, 1 << 20) };
      const delay = learned === 0 ? undefined : prng.int(0, learned);
      const run = await runOpChild(path, op, delay);
      if (run.ms !== undefined) learned = Math.max(learned, run.ms);
      const next = image.slice();
      next.set(content(round, offset, length), offset);
      const dd = await DataDir.open(path, { kernels: backend, create: false });
      try {
        const vol = await dd.volume('v');
        const now = await vol.read(0, size);
        const isOld = same(now, image);
        const isNew = same(now, next);
        const where = `round ${round} (seed ${SEED}, kill ${delay ?? 'after done'} ms of ~${learned})`;
        expect(isOld || isNew, `${where}: the volume is neither wholly old nor wholly new`).toBe(true);
        if (run.done) expect(isNew, `${where}: the write returned but is not there`).toBe(true);
        outcomes.push(isNew ? 'new' : 'old');
        if (isNew) image = next;
        expect(existsSync(join(path, 'volumes', 'v', 'write.stage'))).toBe(false);
        // A checkpoint now and then, so later writes save before-images (and must keep it exact).
        if (round === 4) await vol.createCheckpoint(`c${round}`);
        if (round > 4) expect(same(await vol.read(0, size, { checkpoint: 'c4' }), checkpointImage)).toBe(true);
        if (round === 4) checkpointImage = image;
      } finally {
        await dd.close();
      }
    }
    console.log(`[atomic-write] crash outcomes: ${outcomes.join(' ')}`);
  }, 240_000);
});
