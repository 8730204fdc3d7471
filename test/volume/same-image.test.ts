// A delta between two names of one image is empty (issue 8): right after restore(c)
// the live volume's base is c's image, so diff, diffSize and exportDiff from c are
// empty; so is a delta between checkpoints that hold one image. A change after that
// makes the delta say exactly what changed again.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { DataDir, StreamReader, type Volume } from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('same-image');
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

/** The records a delta stream carries. */
async function streamRecords(vol: Volume, older: string, newer?: string) {
  const reader = new StreamReader();
  const records = [];
  for await (const piece of vol.exportDiff(older, newer)) {
    for (const event of reader.push(piece)) if (event.type === 'record') records.push(event.record);
  }
  reader.end();
  return { header: reader.header!, records };
}

describe('a delta between two names of one image is empty', () => {
  test.each([0, 2])('after restore, and between checkpoints of one image (g=%i); a change after makes it exact again', async (g) => {
    const prng = new Prng(SEED ^ g);
    const root = mkdtempSync(join(tmpdir(), 'snapcopy-same-'));
    roots.push(root);
    const dd = await DataDir.open(root, { kernels: backend });
    try {
      const bs = 4096;
      const vol = await dd.createVolume('v', { size: 256 * bs, blockSize: bs, granularity: g });
      await vol.write(0, prng.fill(new Uint8Array(40 * bs)));
      const monday = await vol.createCheckpoint('monday');
      // Changes, including discards (which the meta-aware scan reports as unused), then back to monday.
      await vol.write(10 * bs + 7, prng.fill(new Uint8Array(3 * bs)));
      await vol.write(100 * bs, prng.fill(new Uint8Array(20 * bs)));
      await vol.discard(0, 8 * bs);
      await vol.createCheckpoint('tuesday');
      expect((await vol.diffSize('monday')).dataBlocks).toBeGreaterThan(0);
      await vol.restore('monday');
      expect(vol.base).toBe(monday.image);

      expect(await collect(vol.diff('monday'))).toEqual([]);
      expect(await vol.diffSize('monday')).toEqual({ dataBlocks: 0, unusedBlocks: 0, dataBytes: 0 });
      expect(await collect(vol.delta('monday'))).toEqual([]);
      const stream = await streamRecords(vol, 'monday');
      expect(stream.records).toEqual([]);
      expect(stream.header.from.id).toBe(monday.image);
      expect(stream.header.to.id).toBe(monday.image);
      expect(stream.header.dataBlocks + stream.header.unusedBlocks).toBe(0);

      // A checkpoint of the restored volume holds monday's image: checkpoint to checkpoint is empty too.
      const wednesday = await vol.createCheckpoint('wednesday');
      expect(wednesday.image).toBe(monday.image);
      expect(await collect(vol.diff('monday', 'wednesday'))).toEqual([]);
      expect(await vol.diffSize('monday', 'wednesday')).toEqual({ dataBlocks: 0, unusedBlocks: 0, dataBytes: 0 });
      // ...but tuesday, in between, is another image: those deltas are not empty.
      expect((await vol.diffSize('tuesday', 'wednesday')).dataBlocks).toBeGreaterThan(0);

      // One write after the restore: the delta is not empty any more (it covers the write,
      // and may cover what the restore rewrote), and it is exact.
      await vol.write(50 * bs + 1, new Uint8Array([1, 2, 3]));
      expect(vol.base).toBeNull();
      const extents = await collect(vol.diff('monday'));
      expect(extents.some((e) => e.kind === 'data' && e.start <= 50 && e.start + e.count > 50)).toBe(true);
      expect((await vol.diffSize('monday')).dataBlocks).toBeGreaterThan(0);
      expect((await streamRecords(vol, 'monday')).records.length).toBeGreaterThan(0);
      const applied = await vol.read(0, vol.size, { checkpoint: 'monday' });
      for (const chunk of await collect(vol.delta('monday'))) applied.set(chunk.data!, chunk.start * bs);
      expect(Buffer.compare(applied, await vol.read(0, vol.size))).toBe(0);
    } finally {
      await dd.close();
    }
  });
});
