// Bounded map memory: staged checkpoint maps are freed again, least recently used
// first, once they hold more than the data directory's cap (src/checkpoint/checkpoint.ts
// MapCache). Reads and scans across many checkpoints stay exact, the staged maps stay
// under the cap between operations, and a scan in progress keeps its maps while
// other volumes' operations free theirs. Seeded (printed; replay with SNAPCOPY_SEED).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDir, type Volume } from '../../src/index.js';
import { DEFAULT_MAP_CACHE_BYTES, mapCacheOf } from '../../src/checkpoint/checkpoint.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('map-cache');
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

const BLOCK = 512;
const BLOCKS = 4096;
const CHECKPOINTS = 24;
/** Room for a handful of checkpoints' maps (each: a page table and a bit map page, a meta map page table). */
const CAP = 96 << 10;

async function openDir(cap = CAP): Promise<DataDir> {
  const root = mkdtempSync(join(tmpdir(), 'snapcopy-mapcache-'));
  roots.push(root);
  return DataDir.open(join(root, 'data'), { kernels: backend, mapCacheBytes: cap });
}

/** A volume with CHECKPOINTS checkpoints, random blocks written between them; returns each checkpoint's image and the blocks written between it and the next. */
async function history(vol: Volume, prng: Prng): Promise<{ images: Uint8Array[]; written: Array<Set<number>> }> {
  const image = new Uint8Array(BLOCKS * BLOCK);
  const images: Uint8Array[] = [];
  const written: Array<Set<number>> = [];
  for (let c = 0; c < CHECKPOINTS; c++) {
    for (let w = 0; w < 4; w++) {
      const start = prng.int(0, BLOCKS - 8);
      const count = prng.int(1, 8);
      const data = prng.fill(new Uint8Array(count * BLOCK));
      await vol.write(start * BLOCK, data);
      image.set(data, start * BLOCK);
      for (let b = start; b < start + count; b++) written[written.length - 1]?.add(b);
    }
    await vol.createCheckpoint(`c${c}`);
    images.push(image.slice());
    written.push(new Set());
  }
  return { images, written };
}

describe(`bounded map memory (${backend} kernels)`, () => {
  it('reads and scans across many checkpoints stay exact, and staged maps stay under the cap between operations', async () => {
    const dir = await openDir();
    const cache = mapCacheOf(dir.arena);
    const prng = new Prng(SEED);
    try {
      const vol = await dir.createVolume('vol', { size: BLOCKS * BLOCK, blockSize: BLOCK });
      const { images, written } = await history(vol, prng);
      let most = 0;
      const check = (what: string) => {
        const stats = cache.stats();
        most = Math.max(most, stats.checkpoints);
        expect(stats.bytes, `${what} (SNAPCOPY_SEED=${SEED}): ${stats.checkpoints} checkpoints staged`).toBeLessThanOrEqual(CAP);
      };
      // Oldest first and in a random order: each read of c<i> stages c<i>..tail.
      const order = [...images.keys(), ...images.keys()].map((i) => (i < CHECKPOINTS ? i : prng.int(0, CHECKPOINTS - 1)));
      for (const i of order) {
        const got = await vol.read(0, BLOCKS * BLOCK, { checkpoint: `c${i}` });
        expect(Buffer.from(got).equals(Buffer.from(images[i]!)), `image of c${i} (SNAPCOPY_SEED=${SEED})`).toBe(true);
        check(`after reading c${i}`);
      }
      for (let i = 0; i + 1 < CHECKPOINTS; i++) {
        const blocks = new Set<number>();
        for await (const e of vol.diff(`c${i}`, `c${i + 1}`)) for (let b = e.start; b < e.start + e.count; b++) blocks.add(b);
        // Exactly the blocks written between the two (each write put new random bytes in).
        expect([...blocks].sort((a, b) => a - b), `delta(c${i}, c${i + 1})`).toEqual([...written[i]!].sort((a, b) => a - b));
        check(`after delta(c${i}, c${i + 1})`);
      }
      const stats = cache.stats();
      expect(stats.evicted, 'maps were freed to stay under the cap').toBeGreaterThan(0);
      expect(most, 'the cap holds several checkpoints, not all of them').toBeLessThan(CHECKPOINTS);
      // The live volume and the tail still work after all that eviction.
      await vol.write(0, new Uint8Array(BLOCK).fill(7));
      expect((await vol.diffSize(`c${CHECKPOINTS - 1}`)).dataBlocks).toBe(1);
    } finally {
      await dir.close();
    }
    expect(cache.stats().checkpoints, 'closing gives every staged map back').toBe(0);
  }, 120_000);

  it('a scan in progress keeps its maps while another volume of the directory frees its own', async () => {
    const dir = await openDir();
    const cache = mapCacheOf(dir.arena);
    const prng = new Prng(SEED ^ 0x5a5a);
    let scan: AsyncGenerator<{ start: number; count: number }> | undefined;
    try {
      // a: every other block of [0, 20 000) and of [32 768, 36 000) rewritten, so
      // delta(c0, c1) has more extents than one batch of the scan in its first bit map
      // page: the second batch reads c0's second page (and meta page) after b's reads.
      const a = await dir.createVolume('a', { size: 65536 * BLOCK, blockSize: BLOCK });
      const bytes = prng.fill(new Uint8Array(36_000 * BLOCK));
      await a.write(0, bytes);
      await a.createCheckpoint('c0');
      const expected: number[] = [];
      for (let bl = 0; bl < 36_000; bl += bl === 19_998 ? 32768 - 19_998 : 2) {
        bytes[bl * BLOCK] ^= 1;
        expected.push(bl);
      }
      await a.write(0, bytes);
      await a.createCheckpoint('c1');
      const b = await dir.createVolume('b', { size: BLOCKS * BLOCK, blockSize: BLOCK });
      const { images } = await history(b, prng);
      scan = a.diff('c0', 'c1');
      const seen: number[] = [];
      const first = await scan.next();
      expect(first.done).toBe(false);
      seen.push(first.value!.start);
      // b's reads run while a's scan holds a's lock: they trim, but must leave a's maps.
      const evictedBefore = cache.stats().evicted;
      const aDir = join(dir.path, 'volumes', 'a');
      const aStaged = cache.stagedOf(aDir);
      expect(aStaged, "a's c0 and c1 are staged for the scan").toBe(2);
      for (let i = 0; i < CHECKPOINTS; i += 3) {
        const got = await b.read(0, BLOCKS * BLOCK, { checkpoint: `c${i}` });
        expect(Buffer.from(got).equals(Buffer.from(images[i]!)), `b's c${i}`).toBe(true);
      }
      expect(cache.stats().evicted, "b's reads freed maps").toBeGreaterThan(evictedBefore);
      expect(cache.stagedOf(aDir), "a's maps, pinned by its scan").toBe(aStaged);
      for await (const e of scan) {
        expect(e.count, `an extent of delta(c0, c1) at ${e.start}`).toBe(1);
        seen.push(e.start);
      }
      expect(seen.length).toBe(expected.length);
      expect(seen, `delta(c0, c1) of a, scanned across b's evictions (SNAPCOPY_SEED=${SEED})`).toEqual(expected);
    } finally {
      await scan?.return(undefined); // a failed check must not leave a's lock held
      await dir.close();
    }
  }, 120_000);

  it('the cap is checked: a bad one changes nothing; the default is documented', async () => {
    const root = mkdtempSync(join(tmpdir(), 'snapcopy-mapcache-'));
    roots.push(root);
    for (const bad of [-1, 1.5, Number.NaN, '1' as unknown as number]) {
      await expect(DataDir.open(join(root, 'data'), { mapCacheBytes: bad })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    }
    const dir = await DataDir.open(join(root, 'data'), { kernels: backend });
    expect(mapCacheOf(dir.arena).stats().capBytes).toBe(DEFAULT_MAP_CACHE_BYTES);
    expect(DEFAULT_MAP_CACHE_BYTES).toBe(256 << 20);
    await dir.close();
  });
});
