// kill -9 during an import over blocks in use, in many batches, with the records of
// every kind the importer treats differently mixed in between: blocks in use (their
// before-images go to the tail's save volume in batches written in the background, then
// their data in place), blocks not in use that an older checkpoint still needs (their
// before-images are saved in the foreground, while a batch may be in flight), blocks
// never in use (written in place, nothing saved) and unused records (staged). Some
// kills hit the recovery that follows. After each, the volume is wholly before or
// wholly after and every checkpoint reads as it was made, also once its maps were
// written back and read again. (A batch and a foreground save appending to the save
// volume at once took the same record index: the undo then put back only part of the
// import, and the tail read wrong even without a crash.) A second test recovers the
// directory as it was right after each commit of volume.json: after the last one, of
// an import that finished, its stage is still there, and the next open took it for an
// import that never committed and put back the before-images of its blocks in use
// (crash.test.ts: "import is not atomic", new but for the blocks in use).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, cpSync, createReadStream, promises as fsPromises, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DataDir, type DeltaHeader, StreamWriter } from '../../src/index.js';
import { Overwrites } from '../../src/checkpoint/import-overwrite.js';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { content } from '../helpers/crash-content.mjs';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('crash-overwrite-stress');
const CHILD = fileURLToPath(new URL('./overwrite-op-child.mjs', import.meta.url));
const MiB = 1 << 20;
const BS = 4096;
const SIZE = 8 * MiB;
const BLOCKS = SIZE / BS;
/** Written at set-up; [7, 8) MiB is never in use before the import. */
const WRITTEN = 7 * MiB;
const KILLS = Number(process.env.SNAPCOPY_CRASH_OVERWRITE_KILLS ?? 16);
const root = mkdtempSync(join(tmpdir(), 'snapcopy-crash-overwrite-stress-'));

beforeAll(ensureBuilt, 300_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

interface Run { start: number; count: number; kind: 'data' | 'unused' }

/** Runs of blocks (granule-aligned), some discarded at set-up, some in the stream. */
function runs(prng: Prng, granularity: number, p: number): Run[] {
  const g = 2 ** granularity;
  const out: Run[] = [];
  for (let b = 0; b < BLOCKS;) {
    const count = Math.min(BLOCKS - b, prng.int(1, 24) * g);
    if (prng.chance(p)) out.push({ start: b, count, kind: prng.chance(0.85) ? 'data' : 'unused' });
    b += count;
  }
  return out;
}

/** Blocks that differ between two images, as a short list for a failure message. */
function diffBlocks(a: Uint8Array, b: Uint8Array): string {
  const out: number[] = [];
  for (let k = 0; k < BLOCKS; k++) if (!same(a.subarray(k * BS, (k + 1) * BS), b.subarray(k * BS, (k + 1) * BS))) out.push(k);
  return `${out.length} block(s) differ [${out.slice(0, 12)}${out.length > 12 ? ',...' : ''}]`;
}

/** Starts the child; kills it `killAfterMs` after line `phase` (or once done when undefined). */
function runChild(dir: string, op: Record<string, unknown>, phase: 'opening' | 'begin', killAfterMs?: number): Promise<{ done: boolean; ms?: number; openMs?: number }> {
  const child: ChildProcess = spawn(process.execPath, [CHILD, dir, backend, JSON.stringify(op)], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let killing = false;
    let opening = 0;
    const result: { done: boolean; ms?: number; openMs?: number } = { done: false };
    const kill = () => {
      killing = true;
      child.kill('SIGKILL');
    };
    child.stderr!.on('data', (text: Buffer) => void (err += text.toString()));
    child.stdout!.on('data', (text: Buffer) => {
      out += text.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        const event = JSON.parse(line) as { phase: string; ms?: number };
        if (event.phase === 'opening') opening = Date.now();
        if (event.phase === 'begin') result.openMs = Date.now() - opening;
        if (event.phase === phase && killAfterMs !== undefined) setTimeout(kill, killAfterMs);
        if (event.phase === 'done' || (event.phase === 'begin' && op.op === 'open' && killAfterMs === undefined)) {
          if (event.phase === 'done') Object.assign(result, { done: true, ms: event.ms });
          kill();
        }
      }
    });
    child.on('close', (code, signal) => {
      if (killing && signal === 'SIGKILL') resolve(result);
      else reject(new Error(`the child ended by itself (code ${code}, signal ${signal}):\n${err}`));
    });
  });
}

interface SetUp {
  granularity: number;
  pristine: string;
  streamPath: string;
  imageA: Uint8Array;
  before: Uint8Array;
  after: Uint8Array;
}

/**
 * Volume v: checkpoint a holds [0, 7) MiB; some runs are discarded before b, the tail,
 * is made (blocks not in use that a needs). The stream from b's image is a file, and
 * the image it makes is worked out here.
 */
async function setUp(prng: Prng, name: string): Promise<SetUp> {
  const granularity = prng.int(0, 1);
  const pristine = join(root, name);
  const streamPath = join(root, `${name}.diff`);
  const dd = await DataDir.open(pristine, { kernels: backend });
  const v = await dd.createVolume('v', { size: SIZE, blockSize: BS, granularity });
  await v.write(0, content(1, 0, WRITTEN));
  await v.createCheckpoint('a');
  const imageA = await v.read(0, SIZE);
  for (const r of runs(prng, granularity, 0.3)) await v.discard(r.start * BS, r.count * BS);
  await v.createCheckpoint('b');
  const before = await v.read(0, SIZE);
  const from = v.listCheckpoints()[1]!.image;
  await dd.close();

  const records = runs(prng, granularity, 0.7);
  const after = before.slice();
  const header: DeltaHeader = {
    volume: { name: 'src', uuid: 'crash-overwrite-stress' }, from: { id: from, name: 'b' }, to: { id: 'crash-overwrite-stress-c', name: 'c' },
    blockSize: BS, blocks: BLOCKS, granularity,
    dataBlocks: records.filter((r) => r.kind === 'data').reduce((n, r) => n + r.count, 0),
    unusedBlocks: records.filter((r) => r.kind === 'unused').reduce((n, r) => n + r.count, 0),
  };
  const writer = new StreamWriter();
  const fd = openSync(streamPath, 'w');
  writeSync(fd, writer.header(header));
  for (const r of records) {
    const data = r.kind === 'data' ? content(2, r.start * BS, r.count * BS) : undefined;
    after.set(data ?? new Uint8Array(r.count * BS), r.start * BS);
    for (const part of writer.record({ kind: r.kind, start: r.start, count: r.count, data })) writeSync(fd, part);
  }
  writeSync(fd, writer.trailer());
  closeSync(fd);
  return { granularity, pristine, streamPath, imageA, before, after };
}

/**
 * Opens `dir` (recovering it), checks that v is wholly before or after (after when
 * `done`) and that the checkpoints read as made; twice, the second time with the maps
 * written back at the first close. Returns whether v was after.
 */
async function checkRecovered(dir: string, setup: SetUp, done: boolean, what: string): Promise<boolean> {
  const { before, after, imageA } = setup;
  let isAfter = false;
  for (const pass of ['recovered', 'reopened']) {
    const dd = await DataDir.open(dir, { kernels: backend });
    const v = await dd.volume('v');
    const live = await v.read(0, SIZE);
    const at = `${what}, ${pass}`;
    expect(same(live, before) || same(live, after),
      `${at}: the volume is partly imported: vs before ${diffBlocks(live, before)}; vs after ${diffBlocks(live, after)}`).toBe(true);
    if (done) expect(same(live, after), `${at}: a returned import persisted`).toBe(true);
    const a = await v.read(0, SIZE, { checkpoint: 'a' });
    expect(same(a, imageA), `${at}: checkpoint a changed: ${diffBlocks(a, imageA)}`).toBe(true);
    const b = await v.read(0, SIZE, { checkpoint: 'b' });
    expect(same(b, before), `${at}: checkpoint b changed: ${diffBlocks(b, before)}`).toBe(true);
    if (same(live, before)) {
      expect((await v.diffSize('b')).dataBlocks, `${at}: undone, yet blocks changed since b`).toBe(0);
    }
    isAfter = !same(live, before);
    await dd.close();
  }
  return isAfter;
}

describe(`an import over blocks in use, in batches, killed (${backend} kernels)`, () => {
  test(`${KILLS} kills (some during the recovery); each leaves the volume wholly before or after`, async () => {
    const prng = new Prng(SEED);
    const setup = await setUp(prng, 'kills');
    const { granularity, pristine, streamPath } = setup;

    let usual = 0;
    let usualOpen = 20;
    const counts = { before: 0, after: 0, kills: 0, recoveryKills: 0 };
    for (let round = 0; round < KILLS + 1; round++) {
      const dir = join(root, 'data');
      rmSync(dir, { recursive: true, force: true });
      cpSync(pristine, dir, { recursive: true });
      const batchBytes = prng.int(1, 4) * (32 << 10);
      const delay = usual === 0 ? undefined : Math.floor(prng.float() * usual * 1.2);
      const run = await runChild(dir, { op: 'import', path: streamPath, batchBytes }, 'begin', delay);
      if (run.done && usual === 0) usual = Math.max(1, run.ms!);
      const label = `round ${round} (g=${granularity}, batches of ${batchBytes} bytes, kill after ${delay ?? 'done'} ms`;
      let recoveryKills = '';
      if (delay !== undefined) {
        counts.kills++;
        for (let k = prng.chance(0.5) ? prng.int(1, 2) : 0; k > 0; k--) {
          // A recovery takes a fraction of an import's time: the bound grows while every kill
          // lands inside one, and is what one took once one ends first.
          const at = Math.floor(prng.float() * usualOpen * 1.2);
          const opened = await runChild(dir, { op: 'open' }, 'opening', at);
          if (opened.openMs === undefined) {
            counts.recoveryKills++;
            usualOpen = Math.min(usual, Math.ceil(usualOpen * 1.25));
          } else {
            usualOpen = Math.max(1, opened.openMs);
          }
          recoveryKills += `, recovery killed after ${at} ms${opened.openMs !== undefined ? ' (it had finished)' : ''}`;
        }
      }
      const what = `${label}${recoveryKills}; SNAPCOPY_SEED=${SEED})`;

      if (await checkRecovered(dir, setup, run.done, what)) counts.after++;
      else counts.before++;
    }
    console.log(`[crash-overwrite-stress] ${backend}: g=${granularity}, ${counts.kills} kills, ${counts.recoveryKills} during a recovery; `
      + `usual ${usual} ms, recovery ${usualOpen} ms; states seen ${JSON.stringify(counts)}`);
  }, 600_000);
  test('a crash right after each commit of volume.json during the import (the directory as it was then) recovers to its result', async () => {
    const prng = new Prng(SEED ^ 0x5eed);
    const setup = await setUp(prng, 'commits');
    const dir = join(root, 'commits-data');
    cpSync(setup.pristine, dir, { recursive: true });
    // Each rename of v's volume.json is a commit; the directory right after it is what a
    // kill -9 then leaves (every write before it was done). The last one, of the import
    // that finished, came before its stage was removed: that stage must not be undone.
    const record = join(dir, 'volumes', 'v', 'volume.json');
    const snapshots: string[] = [];
    const rename = fsPromises.rename;
    fsPromises.rename = async (from, to) => {
      await rename(from, to);
      if (String(to) !== record) return;
      const snapshot = join(root, `commit-${snapshots.length}`);
      cpSync(dir, snapshot, { recursive: true, filter: (path) => basename(path) !== 'LOCK' });
      snapshots.push(snapshot);
    };
    const batch = Overwrites.batchBytes;
    Overwrites.batchBytes = 64 << 10;
    try {
      const dd = await DataDir.open(dir, { kernels: backend });
      await (await dd.volume('v')).importDiff(createReadStream(setup.streamPath, { highWaterMark: 64 << 10 }));
      await dd.close();
    } finally {
      fsPromises.rename = rename;
      Overwrites.batchBytes = batch;
    }
    expect(snapshots.length, 'the import committed and then finished').toBeGreaterThanOrEqual(2);
    for (const [k, snapshot] of snapshots.entries()) {
      const what = `crash after commit ${k + 1} of ${snapshots.length} (g=${setup.granularity}; SNAPCOPY_SEED=${SEED})`;
      expect(await checkRecovered(snapshot, setup, false, what), `${what}: a committed import was undone`).toBe(true);
    }
  });
});
