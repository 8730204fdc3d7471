// The write path's walk (FIG. 41) stages only the checkpoints it reaches: a write of
// blocks the tail has in use decides at the tail, so it stages no older checkpoint's
// maps however many there are; blocks out of use in the tail walk further, to the
// checkpoint that had them in use, and their before-images are saved. Checked against
// a plain model of every checkpoint's image (seeded; replay with SNAPCOPY_SEED=<seed>).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDir } from '../../src/index.js';
import { mapCacheOf } from '../../src/checkpoint/checkpoint.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('write-walk');
const BLOCK = 512;
const BLOCKS = 4096;
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

describe(`the write path's walk over checkpoints (${backend} kernels)`, () => {
  it('stages only the checkpoints it needs, and saves what older checkpoints had in use', async () => {
    const prng = new Prng(SEED);
    const root = mkdtempSync(join(tmpdir(), 'snapcopy-walk-'));
    roots.push(root);
    const dir = await DataDir.open(join(root, 'data'), { kernels: backend });
    try {
      const vol = await dir.createVolume('v', { size: BLOCKS * BLOCK, blockSize: BLOCK });
      const image = prng.fill(new Uint8Array(BLOCKS * BLOCK));
      await vol.write(0, image);
      const frozen: Array<{ name: string; image: Uint8Array }> = [];
      for (let c = 0; c < 30; c++) {
        await vol.createCheckpoint(`c${c}`);
        frozen.push({ name: `c${c}`, image: image.slice() });
        const at = prng.int(0, BLOCKS - 8) * BLOCK;
        const data = prng.fill(new Uint8Array(8 * BLOCK));
        await vol.write(at, data);
        image.set(data, at);
      }
      // Blocks discarded after c29 and written after c30: out of use in the tail (c30), so
      // the walk goes on to c29, which saved them when they were discarded.
      const gone = 100 * BLOCK;
      const inC28 = frozen[28]!.image.subarray(gone, gone + 16 * BLOCK).slice();
      await vol.discard(gone, 16 * BLOCK);
      image.fill(0, gone, gone + 16 * BLOCK);
      await vol.createCheckpoint('c30');
      frozen.push({ name: 'c30', image: image.slice() });

      const cache = mapCacheOf(dir.arena);
      cache.capBytes = 1;
      await cache.trim();
      // In use in the tail: decided there, so no older checkpoint is staged (and evicted after).
      const evicted = cache.stats().evicted;
      const data = prng.fill(new Uint8Array(64 * BLOCK));
      const at = 2000 * BLOCK;
      await vol.write(at, data);
      image.set(data, at);
      expect(cache.stats().evicted - evicted, `SNAPCOPY_SEED=${SEED}: checkpoints staged by a write the tail decides`).toBe(0);

      const back = prng.fill(new Uint8Array(16 * BLOCK));
      await vol.write(gone, back);
      image.set(back, gone);
      cache.capBytes = 1 << 30;
      expect(Buffer.from(await vol.read(gone, 16 * BLOCK, { checkpoint: 'c28' })).equals(Buffer.from(inC28)), `SNAPCOPY_SEED=${SEED}: c28 keeps the blocks written after they went out of use`).toBe(true);
      for (const f of frozen) {
        const got = await vol.read(0, BLOCKS * BLOCK, { checkpoint: f.name });
        expect(Buffer.from(got).equals(Buffer.from(f.image)), `SNAPCOPY_SEED=${SEED}: image of ${f.name}`).toBe(true);
      }
      expect(Buffer.from(await vol.read(0, BLOCKS * BLOCK)).equals(Buffer.from(image)), `SNAPCOPY_SEED=${SEED}: live image`).toBe(true);
    } finally {
      await dir.close();
    }
  }, 120_000);
});
