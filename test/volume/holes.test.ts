// A volume's hole map (storage/hole-map.ts) through the public API: a new volume has
// one, a volume spanning several 64 MiB regions reads back what was written across
// reopenings, resizes and checkpoints, and a volume without the map (made before it
// existed, or with the file lost) or with a damaged one reads every byte from its file.

import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { DataDir } from '../../src/index.js';
import { HoleMap } from '../../src/storage/hole-map.js';
import { backend as kernels } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const REGION = HoleMap.REGION;
const BS = 4096;
const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function root(): string {
  const dir = mkdtempSync(join(tmpdir(), 'snapcopy-holes-'));
  roots.push(dir);
  return dir;
}

describe('the hole map of a volume', () => {
  test('seeded writes across regions read back as the model says, through reopenings, checkpoints, a resize and a lost or damaged map', async () => {
    const seed = testSeed('volume-holes');
    const prng = new Prng(seed);
    const path = root();
    let size = 3 * REGION + 5 * BS;
    const model = new Map<number, number>(); // block → fill byte
    let dir = await DataDir.open(path, { kernels });
    let vol = await dir.createVolume('v', { size, blockSize: BS });
    const holes = join(path, 'volumes', 'v', 'holes');
    expect(existsSync(holes)).toBe(true);
    const check = async (label: string) => {
      for (let probe = 0; probe < 12; probe++) {
        const block = prng.int(0, size / BS - 4);
        const got = await vol.read(block * BS, 4 * BS);
        for (let b = 0; b < 4; b++) {
          const want = model.get(block + b) ?? 0;
          expect(got[b * BS], `seed ${seed}, ${label}: block ${block + b}`).toBe(want);
          expect(got[b * BS + BS - 1], `seed ${seed}, ${label}: block ${block + b}`).toBe(want);
        }
      }
      for (const [block, fill] of [...model].slice(0, 40)) expect((await vol.read(block * BS, BS))[7], `seed ${seed}, ${label}`).toBe(fill);
    };
    const reopen = async () => {
      await dir.close();
      dir = await DataDir.open(path, { kernels });
      vol = await dir.volume('v');
    };
    for (let round = 0; round < 6; round++) {
      for (let w = 0; w < 10; w++) {
        const block = prng.int(0, size / BS - 8);
        const count = prng.int(1, 8);
        const fill = prng.int(1, 255);
        await vol.write(block * BS, new Uint8Array(count * BS).fill(fill));
        for (let b = 0; b < count; b++) model.set(block + b, fill);
      }
      await check(`round ${round}, written`);
      if (round === 1) await vol.createCheckpoint('c1');
      if (round === 2) {
        size += REGION; // regions past the map: not known, read from the file
        await vol.resize(size);
      }
      if (round === 3) unlinkSync(holes); // as a volume made before the map
      if (round === 4) writeFileSync(holes, new Uint8Array(40).fill(0xff)); // a damaged one (the map was lost in round 3)
      await reopen();
      await check(`round ${round}, reopened`);
    }
    await dir.close();
  });
});
