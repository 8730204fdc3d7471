// An import reads its stream with a transient reader (records are views of the chunk or
// of the reader's reused buffers, valid until the next chunk is asked for), and the
// import over blocks in use holds records back in batches: it must copy what it keeps.
// Here the source hands out every chunk in one reused buffer, overwritten as soon as the
// next chunk is asked for, in random sizes, with batches of a few records, over blocks
// in use and not: the volume and its checkpoint must equal the model exactly.
//
// Replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/volume/import-reused-chunks.test.ts.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { DataDir, type DeltaHeader, StreamWriter } from '../../src/index.js';
import { Overwrites } from '../../src/checkpoint/import-overwrite.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('import-reused-chunks');
const BS = 4096;
const BLOCKS = 1024;
const root = mkdtempSync(join(tmpdir(), 'snapcopy-import-reused-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Data records over random runs of [0, BLOCKS), most of them within the first half (in use). */
function stream(prng: Prng, from: string, image: Uint8Array): Uint8Array {
  const records: { start: number; count: number; data: Uint8Array }[] = [];
  for (let next = prng.int(0, 8); next < BLOCKS;) {
    const count = Math.min(prng.int(1, 40), BLOCKS - next);
    records.push({ start: next, count, data: prng.fill(new Uint8Array(count * BS)) });
    image.set(records.at(-1)!.data, next * BS);
    next += count + prng.int(0, 30);
  }
  const dataBlocks = records.reduce((n, r) => n + r.count, 0);
  const header: DeltaHeader = {
    volume: { name: 'src', uuid: 'reused' }, from: { id: from, name: 'a' }, to: { id: `reused-${prng.u32()}`, name: 'b' },
    blockSize: BS, blocks: BLOCKS, granularity: 0, dataBlocks, unusedBlocks: 0,
  };
  const writer = new StreamWriter();
  const parts = [writer.header(header), ...records.flatMap((r) => writer.record({ kind: 'data', ...r })), writer.trailer()];
  return Buffer.concat(parts);
}

/** The stream in random pieces, all in one buffer that is overwritten when the next is asked for. */
async function* reusedChunks(bytes: Uint8Array, prng: Prng): AsyncGenerator<Uint8Array> {
  const shared = new Uint8Array(96 * 1024);
  for (let at = 0; at < bytes.length;) {
    const n = Math.min(prng.int(1, shared.length), bytes.length - at);
    shared.set(bytes.subarray(at, at + n));
    yield shared.subarray(0, n);
    shared.fill(0xee);
    at += n;
  }
}

test(`import over blocks in use from one reused buffer equals the model (${backend} kernels)`, async () => {
  const prng = new Prng(SEED);
  const dd = await DataDir.open(join(root, 'data'), { kernels: backend });
  const v = await dd.createVolume('v', { size: BLOCKS * BS, blockSize: BS });
  const image = new Uint8Array(BLOCKS * BS);
  image.set(prng.fill(new Uint8Array((BLOCKS / 2) * BS)));
  await v.writeFrom(0, (async function* () { yield image.subarray(0, (BLOCKS / 2) * BS); })());
  const saved = Overwrites.batchBytes;
  Overwrites.batchBytes = 5 * BS; // a batch every few records: batches alternate between the two buffers
  try {
    for (let round = 0; round < 4; round++) {
      await v.createCheckpoint(`c${round}`);
      const before = image.slice();
      const from = v.listCheckpoints().at(-1)!.image;
      const bytes = stream(prng, from, image);
      await v.importDiff(reusedChunks(bytes, prng));
      expect(Buffer.compare(await v.read(0, BLOCKS * BS), image), `seed ${SEED} round ${round}`).toBe(0);
      expect(Buffer.compare(await v.read(0, BLOCKS * BS, { checkpoint: `c${round}` }), before), `seed ${SEED} round ${round} checkpoint`).toBe(0);
    }
  } finally {
    Overwrites.batchBytes = saved;
  }
  await dd.close();
});
