// Reads of old checkpoints under a small map cache (src/checkpoint/read-fold.ts): the
// checkpoints younger than the one read are staged while the cache has room and the
// older rest is folded into one layer, loaded one checkpoint at a time and freed. Every
// image read, exported or restored that way equals the model's, whatever the cap, and
// a read under a cap of one byte stages nothing but the tail. Seeded (printed).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import { Checkpoint, mapCacheOf } from '../../src/checkpoint/checkpoint.js';
import { DataDir, type Volume } from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('read-fold');
const BLOCK = 512;
const BLOCKS = 2048;
const CHECKPOINTS = 30;
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function openDir(cap: number): Promise<DataDir> {
  const root = mkdtempSync(join(tmpdir(), 'snapcopy-readfold-'));
  roots.push(root);
  return DataDir.open(join(root, 'data'), { kernels: backend, mapCacheBytes: cap });
}

/** CHECKPOINTS checkpoints with random runs written before each (some blocks again and again); each one's image. */
async function history(vol: Volume, prng: Prng): Promise<Uint8Array[]> {
  const image = new Uint8Array(BLOCKS * BLOCK);
  const images: Uint8Array[] = [];
  for (let c = 0; c < CHECKPOINTS; c++) {
    for (let w = 0; w < 5; w++) {
      const start = prng.chance(0.3) ? prng.int(0, 15) : prng.int(0, BLOCKS - 16);
      const data = prng.fill(new Uint8Array(prng.int(1, 16) * BLOCK));
      await vol.write(start * BLOCK, data);
      image.set(data, start * BLOCK);
    }
    await vol.createCheckpoint(`c${c}`);
    images.push(image.slice());
  }
  // The live volume moves on past the last checkpoint, so every image needs the tail too.
  await vol.write(0, prng.fill(new Uint8Array(8 * BLOCK)));
  return images;
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe(`reads of old checkpoints fold the older part (${backend} kernels)`, () => {
  for (const [label, cap] of [['a cap of one byte', 1], ['room for a few checkpoints', 24 << 10], ['room for all', 256 << 20]] as const) {
    test(`${label}: every image reads as the model's, and its delta's data are the newer image's`, async () => {
      const prng = new Prng(SEED ^ cap);
      const dir = await openDir(cap);
      try {
        const vol = await dir.createVolume('v', { size: BLOCKS * BLOCK, blockSize: BLOCK });
        const images = await history(vol, prng);
        const loads = vi.spyOn(Checkpoint.prototype, 'loadMaps');
        const order = [0, ...Array.from({ length: 12 }, () => prng.int(0, CHECKPOINTS - 1))];
        for (const i of order) {
          const got = await vol.read(0, BLOCKS * BLOCK, { checkpoint: `c${i}` });
          expect(same(got, images[i]!), `image of c${i} (SNAPCOPY_SEED=${SEED})`).toBe(true);
        }
        if (cap === 1) {
          // Reading c0 folded every checkpoint but the tail, one at a time.
          expect(loads.mock.calls.length).toBeGreaterThanOrEqual(CHECKPOINTS - 1);
          expect(mapCacheOf(dir.arena).stats().checkpoints, 'between operations: the tail alone').toBeLessThanOrEqual(1);
        }
        if (cap === 256 << 20) expect(loads).not.toHaveBeenCalled();
        for (let k = 0; k < 4; k++) {
          const older = prng.int(0, CHECKPOINTS - 2);
          const newer = prng.int(older + 1, CHECKPOINTS - 1);
          for await (const chunk of vol.delta(`c${older}`, `c${newer}`)) {
            if (chunk.kind !== 'data') continue;
            const want = images[newer]!.subarray(chunk.start * BLOCK, (chunk.start + chunk.count) * BLOCK);
            expect(same(chunk.data!, want), `delta(c${older}, c${newer}) at ${chunk.start} (SNAPCOPY_SEED=${SEED})`).toBe(true);
          }
        }
        const back = prng.int(0, CHECKPOINTS - 2);
        await vol.restore(`c${back}`);
        expect(same(await vol.read(0, BLOCKS * BLOCK), images[back]!), `restored c${back} (SNAPCOPY_SEED=${SEED})`).toBe(true);
        for (const i of [0, back, CHECKPOINTS - 1]) {
          expect(same(await vol.read(0, BLOCKS * BLOCK, { checkpoint: `c${i}` }), images[i]!), `c${i} after the restore`).toBe(true);
        }
      } finally {
        await dir.close();
      }
    }, 120_000);
  }

  test('a read under a cap of one byte stages no checkpoint but the tail while it runs', async () => {
    const prng = new Prng(SEED ^ 0x77);
    const dir = await openDir(1);
    try {
      const vol = await dir.createVolume('v', { size: BLOCKS * BLOCK, blockSize: BLOCK });
      const images = await history(vol, prng);
      const staged = vi.spyOn(Checkpoint.prototype, 'maps');
      const got = await vol.read(0, BLOCKS * BLOCK, { checkpoint: 'c0' });
      expect(same(got, images[0]!)).toBe(true);
      const names = new Set(staged.mock.contexts.map((c) => (c as Checkpoint).name));
      expect([...names]).toEqual([`c${CHECKPOINTS - 1}`]);
    } finally {
      await dir.close();
    }
  }, 60_000);
});
