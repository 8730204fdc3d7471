// kill -9 during an import that overwrites blocks in use in place (a replica's next set:
// the newest checkpoint needs every block the set rewrites, so their before-images are
// the undo; see src/checkpoint/import-overwrite.ts). Each round makes a fresh checkpoint
// first, so every import takes that path; a kill leaves the volume wholly before (the
// before-images put back and dropped: the delta from that checkpoint is empty) or
// wholly after, and every checkpoint exact. Also in process: a stream that turns out
// corrupt after blocks were overwritten changes nothing.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DataDir, type DeltaHeader, StreamWriter } from '../../src/index.js';
import { Overwrites } from '../../src/checkpoint/import-overwrite.js';
import { WriteBehind } from '../../src/storage/write-behind.js';
import { backend } from '../helpers/backend.js';
import { runOpChild } from '../helpers/op-child.js';
import { ensureBuilt } from '../helpers/built.js';
import { content } from '../helpers/crash-content.mjs';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('crash-overwrite');
const CHILD = fileURLToPath(new URL('./large-op-child.mjs', import.meta.url));
const MiB = 1 << 20;
const BS = 4096;
const SIZE = 24 * MiB;
const KILLS = Number(process.env.SNAPCOPY_CRASH_LARGE_KILLS ?? 10);
const root = mkdtempSync(join(tmpdir(), 'snapcopy-crash-overwrite-'));

beforeAll(ensureBuilt, 300_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

/** [0, 16) MiB in use with content 1. */
function imageBefore(): Uint8Array {
  const before = new Uint8Array(SIZE);
  before.set(content(1, 0, 16 * MiB));
  return before;
}

/**
 * The stream from image `from`: [0, 1) MiB no longer in use, [2, 14) MiB (in use:
 * overwritten in place) and [16, 20) MiB (not in use) with content 2, in 4 MiB records;
 * with `corruptLast`, the last record's checksum is wrong.
 */
function streamParts(from: string, corruptLast = false): Uint8Array[] {
  const data = (lo: number, hi: number) => [lo, hi] as const;
  const runs = [data(2, 6), data(6, 10), data(10, 14), data(16, 20)];
  const header: DeltaHeader = {
    volume: { name: 'src', uuid: 'crash-overwrite' }, from: { id: from, name: 'a' }, to: { id: 'crash-overwrite-b', name: 'b' },
    blockSize: BS, blocks: SIZE / BS, granularity: 0, dataBlocks: (16 * MiB) / BS, unusedBlocks: MiB / BS,
  };
  const writer = new StreamWriter();
  const parts = [writer.header(header), ...writer.record({ kind: 'unused', start: 0, count: MiB / BS })];
  for (const [lo, hi] of runs) {
    const record = writer.record({ kind: 'data', start: (lo * MiB) / BS, count: ((hi - lo) * MiB) / BS, data: content(2, lo * MiB, (hi - lo) * MiB) });
    parts.push(...record.map((p) => p.slice()));
  }
  if (corruptLast) parts[parts.length - 1]![100] ^= 1;
  parts.push(writer.trailer());
  return parts;
}

function imageAfter(before: Uint8Array): Uint8Array {
  const after = before.slice();
  after.fill(0, 0, MiB);
  for (const [lo, hi] of [[2, 14], [16, 20]] as const) after.set(content(2, lo * MiB, (hi - lo) * MiB), lo * MiB);
  return after;
}

function writeStreamFile(path: string, from: string): void {
  const fd = openSync(path, 'w');
  for (const part of streamParts(from)) writeSync(fd, part);
  closeSync(fd);
}

describe(`an import overwriting blocks in use (${backend} kernels)`, () => {
  test('a stream found corrupt after blocks were overwritten changes nothing', async () => {
    const dir = join(root, 'corrupt');
    const before = imageBefore();
    const dd = await DataDir.open(dir, { kernels: backend });
    const v = await dd.createVolume('v', { size: SIZE, blockSize: BS });
    await v.writeFrom(0, (async function* () { yield before.subarray(0, 16 * MiB); })());
    await v.createCheckpoint('a');
    const from = v.listCheckpoints()[0]!.image;
    const batch = Overwrites.batchBytes;
    const every = WriteBehind.every;
    Overwrites.batchBytes = MiB; // flush (overwrite) after every record, before the corrupt one is read
    WriteBehind.every = 256 << 10; // and sync the overwritten blocks in the background, before the undo
    try {
      const failure = await v.importDiff((async function* () { yield* streamParts(from, true); })()).catch((e: unknown) => e);
      expect(failure).toMatchObject({ code: 'ERR_CORRUPT' });
    } finally {
      Overwrites.batchBytes = batch;
      WriteBehind.every = every;
    }
    expect(same(await v.read(0, SIZE), before)).toBe(true);
    expect(same(await v.read(0, SIZE, { checkpoint: 'a' }), before)).toBe(true);
    // The before-images were dropped again: nothing changed since a.
    expect((await v.diffSize('a')).dataBlocks).toBe(0);
    const result = await v.importDiff((async function* () { yield* streamParts(from); })());
    expect(result.dataBlocks).toBe((16 * MiB) / BS);
    expect(same(await v.read(0, SIZE), imageAfter(before))).toBe(true);
    expect(same(await v.read(0, SIZE, { checkpoint: 'a' }), before)).toBe(true);
    await dd.close();
  });

  test(`${KILLS} kills; each leaves the volume wholly before or after, and every checkpoint exact`, async () => {
    const prng = new Prng(SEED);
    const dir = join(root, 'data');
    const streamPath = join(root, 'b.diff');
    const before = imageBefore();
    const after = imageAfter(before);
    let dd = await DataDir.open(dir, { kernels: backend });
    const v = await dd.createVolume('v', { size: SIZE, blockSize: BS });
    await v.writeFrom(0, (async function* () { yield before.subarray(0, 16 * MiB); })());
    await v.createCheckpoint('a');
    writeStreamFile(streamPath, v.listCheckpoints()[0]!.image);
    await dd.close();

    let usual = 0;
    const counts = { before: 0, after: 0, kills: 0 };
    for (let round = 0; round < KILLS + 1; round++) {
      // A fresh checkpoint of the image before: every block the stream rewrites needs a before-image.
      dd = await DataDir.open(dir, { kernels: backend });
      await (await dd.volume('v')).createCheckpoint(`r${round}`);
      await dd.close();
      const delay = usual === 0 ? undefined : Math.floor(prng.float() * usual * 1.2);
      const run = await runOpChild(dir, { op: 'import', path: streamPath }, delay, CHILD);
      if (run.done && usual === 0) usual = Math.max(1, run.ms!);
      if (delay !== undefined) counts.kills++;
      dd = await DataDir.open(dir, { kernels: backend });
      const vol = await dd.volume('v');
      const live = await vol.read(0, SIZE);
      const label = `round ${round} (kill after ${delay ?? 'done'} ms; SNAPCOPY_SEED=${SEED})`;
      expect(same(live, before) || same(live, after), `${label}: live volume is neither wholly before nor after`).toBe(true);
      if (run.done) expect(same(live, after), `${label}: a returned import persisted`).toBe(true);
      expect(same(await vol.read(0, SIZE, { checkpoint: 'a' }), before), `${label}: checkpoint a changed`).toBe(true);
      expect(same(await vol.read(0, SIZE, { checkpoint: `r${round}` }), before), `${label}: checkpoint r${round} changed`).toBe(true);
      if (same(live, before)) {
        counts.before++;
        expect((await vol.diffSize(`r${round}`)).dataBlocks, `${label}: undone, yet blocks changed since r${round}`).toBe(0);
      } else {
        counts.after++;
        await vol.restore('a');
      }
      await dd.close();
    }
    console.log(`[crash-overwrite] ${backend}: ${counts.kills} kills; usual ${usual} ms; states seen ${JSON.stringify(counts)}`);
  }, 300_000);
});
