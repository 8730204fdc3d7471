// kill -9 during a large import-diff and a large restore (many steps, before-images,
// blocks written in place while staging, and a stage applied without the log): a child
// process (large-op-child.mjs, on the built library) runs the operation and is killed
// at a random instant; on reopen the live volume reads wholly as before or wholly as
// after, and the checkpoint reads exactly its image. crash.test.ts covers every
// operation on a small volume, where an import or a restore is a single step.
//
// Replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/volume/crash-large.test.ts

import { mkdtempSync, openSync, closeSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DataDir, type DeltaHeader, StreamWriter } from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { runOpChild } from '../helpers/op-child.js';
import { ensureBuilt } from '../helpers/built.js';
import { content } from '../helpers/crash-content.mjs';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('crash-large');
const CHILD = fileURLToPath(new URL('./large-op-child.mjs', import.meta.url));
const MiB = 1 << 20;
const BS = 4096;
const SIZE = 24 * MiB;
const KILLS = Number(process.env.SNAPCOPY_CRASH_LARGE_KILLS ?? 10);
const root = mkdtempSync(join(tmpdir(), 'snapcopy-crash-large-'));

beforeAll(ensureBuilt, 300_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

/** Runs one operation of large-op-child.mjs and kills it `killAfterMs` after it begins (undefined: once done). */
const runChild = (dir: string, op: Record<string, unknown>, killAfterMs?: number) => runOpChild(dir, op, killAfterMs, CHILD);

/**
 * The stream from checkpoint a's image: blocks [8, 16) MiB (in use: staged, in records
 * longer than a step) and [16, 20) MiB (not in use: written in place) with op 2's
 * content, and [0, 1) MiB no longer in use.
 */
function writeStream(path: string, from: string): void {
  const header: DeltaHeader = {
    volume: { name: 'src', uuid: 'crash-large' }, from: { id: from, name: 'a' }, to: { id: 'crash-large-b', name: 'b' },
    blockSize: BS, blocks: SIZE / BS, granularity: 0, dataBlocks: (12 * MiB) / BS, unusedBlocks: MiB / BS,
  };
  const writer = new StreamWriter();
  const fd = openSync(path, 'w');
  writeSync(fd, writer.header(header));
  for (const part of writer.record({ kind: 'unused', start: 0, count: MiB / BS })) writeSync(fd, part);
  for (const [lo, hi] of [[8, 14], [14, 16], [16, 20]] as const) {
    const data = content(2, lo * MiB, (hi - lo) * MiB);
    for (const part of writer.record({ kind: 'data', start: (lo * MiB) / BS, count: ((hi - lo) * MiB) / BS, data })) writeSync(fd, part);
  }
  writeSync(fd, writer.trailer());
  closeSync(fd);
}

describe(`kill -9 during a large import and restore (${backend} kernels)`, () => {
  test(`${KILLS} kills; each leaves the volume wholly before or after, and the checkpoint exact`, async () => {
    const prng = new Prng(SEED);
    const dir = join(root, 'data');
    const streamPath = join(root, 'b.diff');
    const before = new Uint8Array(SIZE);
    before.set(content(1, 0, 16 * MiB));
    const after = before.slice();
    after.fill(0, 0, MiB);
    after.set(content(2, 8 * MiB, 12 * MiB), 8 * MiB);

    let dd = await DataDir.open(dir, { kernels: backend });
    const v = await dd.createVolume('v', { size: SIZE, blockSize: BS });
    await v.writeFrom(0, (async function* () { yield before.subarray(0, 16 * MiB); })());
    await v.createCheckpoint('a');
    writeStream(streamPath, v.listCheckpoints()[0]!.image);
    await dd.close();

    // How long each takes when not cut short (the kills spread over that).
    const usual = { import: 0, restore: 0 };
    const ops = {
      import: { op: 'import', path: streamPath },
      restore: { op: 'restore', name: 'a' },
    };
    let state: 'before' | 'after' = 'before';
    const counts = { before: 0, after: 0, kills: 0 };
    for (let round = 0; round < KILLS + 2; round++) {
      const kind = state === 'before' ? 'import' : 'restore';
      const delay = usual[kind] === 0 ? undefined : Math.floor(prng.float() * usual[kind] * 1.2);
      const run = await runChild(dir, ops[kind], delay);
      if (run.done && usual[kind] === 0) usual[kind] = Math.max(1, run.ms!);
      if (delay !== undefined) counts.kills++;
      dd = await DataDir.open(dir, { kernels: backend });
      const vol = await dd.volume('v');
      const live = await vol.read(0, SIZE);
      const label = `round ${round} (${kind}, kill after ${delay ?? 'done'} ms; SNAPCOPY_SEED=${SEED})`;
      expect(same(live, before) || same(live, after), `${label}: live volume is neither wholly before nor after`).toBe(true);
      if (run.done) expect(same(live, kind === 'import' ? after : before), `${label}: a returned operation persisted`).toBe(true);
      expect(same(await vol.read(0, SIZE, { checkpoint: 'a' }), before), `${label}: checkpoint a changed`).toBe(true);
      state = same(live, before) ? 'before' : 'after';
      counts[state]++;
      await dd.close();
    }
    console.log(`[crash-large] ${backend}: ${counts.kills} kills; usual ms ${JSON.stringify(usual)}; states seen ${JSON.stringify(counts)}`);
  }, 300_000);
});
