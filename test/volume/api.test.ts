// Focused tests of the public volume API: each operation on a small, known example,
// and bad input — every refusal is a SnapcopyError with a stable code, and the volume
// (live image, in-use map, checkpoints and their images, base) is exactly as before.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DataDir, type DeltaChunk, type DeltaHeader, EMPTY_IMAGE, SnapcopyError, StreamReader, StreamWriter, type Volume,
} from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('volume-api');
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tempDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'snapcopy-api-'));
  roots.push(root);
  return root;
}

/** Runs `body` with a fresh data directory, closed afterwards. */
async function withDir<T>(body: (dir: DataDir, path: string) => Promise<T>): Promise<T> {
  const path = tempDir();
  const dir = await DataDir.open(path, { kernels: backend });
  try {
    return await body(dir, path);
  } finally {
    await dir.close();
  }
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

async function streamOf(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(Buffer.concat(await collect(source)));
}

async function* feed(...pieces: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const piece of pieces) yield piece;
}

/**
 * The code of the SnapcopyError that `action` throws (synchronously, as a rejected
 * promise, or from the first step of an async iteration); fails on anything else.
 */
async function codeOf(action: () => unknown): Promise<string> {
  try {
    const result = action();
    if (result && typeof (result as Promise<unknown>).then === 'function') await result;
    else if (result && typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
      for await (const _ of result as AsyncIterable<unknown>) { /* drain */ }
    }
  } catch (error) {
    if (!(error instanceof SnapcopyError)) throw new Error(`expected a SnapcopyError, got ${String(error)}`, { cause: error });
    expect(typeof error.message).toBe('string');
    expect(error.message.length).toBeGreaterThan(0);
    return error.code;
  }
  return 'no error';
}

interface Snapshot {
  base: string | null;
  checkpoints: string;
  images: Map<string, Uint8Array>;
  inUse: number;
  extents: string;
}

/** Everything a reader can see of a volume: live image, in-use blocks, checkpoints and their images, base. */
async function snapshot(volume: Volume): Promise<Snapshot> {
  const images = new Map<string, Uint8Array>();
  images.set('(live)', await volume.read(0, volume.size));
  const list = volume.listCheckpoints();
  for (const c of list) images.set(c.name, await volume.read(0, volume.size, { checkpoint: c.name }));
  const extents = JSON.stringify(await collect(volume.diff(null)));
  return { base: volume.base, checkpoints: JSON.stringify(list), images, inUse: (await volume.diffSize(null)).dataBlocks, extents };
}

async function expectUnchanged(volume: Volume, before: Snapshot, what: string): Promise<void> {
  const after = await snapshot(volume);
  expect(after.base, `${what}: base`).toBe(before.base);
  expect(after.checkpoints, `${what}: checkpoints`).toBe(before.checkpoints);
  expect(after.inUse, `${what}: blocks in use`).toBe(before.inUse);
  expect(after.extents, `${what}: in-use extents`).toBe(before.extents);
  expect([...after.images.keys()]).toEqual([...before.images.keys()]);
  for (const [name, image] of before.images) {
    expect(Buffer.compare(after.images.get(name)!, image) === 0, `${what}: image of ${name}`).toBe(true);
  }
}

/** Expects `action` to fail with `code` and to leave `volume` as it was. */
async function refuses(volume: Volume, code: string, what: string, action: () => unknown): Promise<void> {
  const before = await snapshot(volume);
  expect(await codeOf(action), what).toBe(code);
  await expectUnchanged(volume, before, what);
}

function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

/** A volume with some content and checkpoints a (blocks 0-3 = 1), b (blocks 2, 5 = 2, block 3 discarded). */
async function sample(dir: DataDir, name = 'vol', granularity = 0): Promise<Volume> {
  const vol = await dir.createVolume(name, { size: 16 * 512, blockSize: 512, granularity });
  await vol.write(0, filled(4 * 512, 1));
  await vol.createCheckpoint(`${name}-a`);
  await vol.write(2 * 512, filled(512, 2));
  await vol.write(5 * 512, filled(512, 2));
  await vol.discard(3 * 512, 512);
  await vol.createCheckpoint(`${name}-b`);
  return vol;
}

describe(`data directory (${backend})`, () => {
  it('createVolume checks size, block size, granularity and name, and changes nothing when they are bad', async () => {
    await withDir(async (dir) => {
      const bad: Array<[string, unknown, object]> = [
        ['ERR_INVALID_ARGUMENT', 'v', { size: 0 }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: -8192 }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: 1000, blockSize: 512 }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: 512.5 * 2, blockSize: 512 }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: Number.NaN }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: 4096 }], // default block size 8 KiB
        ['ERR_INVALID_ARGUMENT', 'v', { size: 2 ** 31 * 512 + 512, blockSize: 512 }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: 4096, blockSize: 256 }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: 3 * 1024, blockSize: 1536 }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: 2 ** 22, blockSize: 2 ** 21 }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: 4096, blockSize: 0 }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: 4096, blockSize: 512, granularity: -1 }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: 4096, blockSize: 512, granularity: 7 }],
        ['ERR_INVALID_ARGUMENT', 'v', { size: 4096, blockSize: 512, granularity: 1.5 }],
        ...['', '-v', '.v', 'a/b', '../x', 'a b', 'v\u00e9', 'x'.repeat(129)].map((name): [string, unknown, object] => (
          ['ERR_INVALID_ARGUMENT', name, { size: 4096, blockSize: 512 }])),
        ['ERR_INVALID_ARGUMENT', 42, { size: 4096, blockSize: 512 }],
      ];
      for (const [code, name, options] of bad) {
        expect(await codeOf(() => dir.createVolume(name as string, options as { size: number })), `${String(name)} ${JSON.stringify(options)}`).toBe(code);
      }
      expect(await dir.volumeNames()).toEqual([]);
      const v = await dir.createVolume('v', { size: 8 * 8192 });
      expect([v.blocks, v.blockSize, v.granularity, v.size]).toEqual([8, 8192, 0, 65536]);
      expect(v.base).toBe(EMPTY_IMAGE);
      const w = await dir.createVolume('W_1.x-y', { size: 3 * 2 ** 20, blockSize: 2 ** 20, granularity: 6 });
      expect([w.blocks, w.granularity]).toEqual([3, 6]);
      const before = await snapshot(v);
      expect(await codeOf(() => dir.createVolume('v', { size: 4096, blockSize: 512 }))).toBe('ERR_EXISTS');
      await expectUnchanged(v, before, 'createVolume of an existing name');
      expect(await dir.volumeNames()).toEqual(['W_1.x-y', 'v']);
    });
  });

  it('volume(), volumeOfCheckpoint() and clone() refuse unknown and bad names', async () => {
    await withDir(async (dir) => {
      const vol = await sample(dir);
      expect(await codeOf(() => dir.volume('nope'))).toBe('ERR_NOT_FOUND');
      expect(await codeOf(() => dir.volume('../vol'))).toBe('ERR_INVALID_ARGUMENT');
      expect(await codeOf(() => dir.volumeOfCheckpoint('nope'))).toBe('ERR_NOT_FOUND');
      expect(await dir.volume('vol')).toBe(vol);
      expect((await dir.volumeOfCheckpoint('vol-a')).volume).toBe(vol);
      expect(await dir.findCheckpoint('vol@vol-a')).toEqual({ volume: 'vol', checkpoint: 'vol-a' });
      expect(await codeOf(() => dir.findCheckpoint('other@vol-a'))).toBe('ERR_NOT_FOUND');
      expect(await codeOf(() => dir.clone('nope', 'copy'))).toBe('ERR_NOT_FOUND');
      expect(await codeOf(() => dir.clone('vol-a', 'bad name'))).toBe('ERR_INVALID_ARGUMENT');
      await refuses(vol, 'ERR_EXISTS', 'clone onto an existing volume', () => dir.clone('vol-a', 'vol'));
      expect(await dir.volumeNames()).toEqual(['vol']);
    });
  });

  it('a volume open in one DataDir is ERR_LOCKED to a second one in the same process; other volumes are not; close releases it', async () => {
    const path = tempDir();
    const first = await DataDir.open(path, { kernels: backend });
    const vol = await first.createVolume('v', { size: 4096, blockSize: 512 });
    await vol.write(100, filled(700, 9));
    const before = await snapshot(vol);
    const beside = await DataDir.open(path, { kernels: backend });
    expect(await codeOf(() => beside.volume('v'))).toBe('ERR_LOCKED');
    const w = await beside.createVolume('w', { size: 4096, blockSize: 512 });
    await w.write(0, filled(512, 1));
    await beside.close();
    await expectUnchanged(vol, before, 'after the refused open');
    await first.close();
    expect(await codeOf(() => first.volume('v'))).toBe('ERR_CLOSED');
    expect(await codeOf(() => vol.read(0, 1))).toBe('ERR_CLOSED');
    expect(await codeOf(() => vol.write(0, filled(1, 1)))).toBe('ERR_CLOSED');
    const second = await DataDir.open(path, { kernels: backend });
    try {
      const again = await second.volume('v');
      expect(Buffer.compare(await again.read(0, again.size), before.images.get('(live)')!)).toBe(0);
    } finally {
      await second.close();
    }
    expect(await codeOf(() => DataDir.open(join(path, 'missing'), { kernels: backend, create: false }))).toBe('ERR_NOT_FOUND');
    expect(await codeOf(() => DataDir.open('', { kernels: backend }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe(`volume I/O (${backend})`, () => {
  it('write at any byte offset and read any range; bad ranges are refused and write nothing', async () => {
    await withDir(async (dir) => {
      const vol = await dir.createVolume('v', { size: 8 * 512, blockSize: 512 });
      const model = new Uint8Array(vol.size);
      const prng = new Prng(SEED);
      for (const [offset, length] of [[0, 1], [511, 2], [700, 1500], [4095, 1], [1024, 512], [0, 4096], [3000, 0]] as const) {
        const data = prng.fill(new Uint8Array(length));
        await vol.write(offset, data);
        model.set(data, offset);
        expect(Buffer.compare(await vol.read(0, vol.size), model)).toBe(0);
      }
      expect(Buffer.compare(await vol.read(509, 7), model.subarray(509, 516))).toBe(0);
      expect((await vol.read(4096, 0)).length).toBe(0);
      await refuses(vol, 'ERR_OUT_OF_RANGE', 'write past the end', () => vol.write(4000, filled(97, 7)));
      await refuses(vol, 'ERR_OUT_OF_RANGE', 'write at the end', () => vol.write(4096, filled(1, 7)));
      await refuses(vol, 'ERR_INVALID_ARGUMENT', 'write at a negative offset', () => vol.write(-1, filled(2, 7)));
      await refuses(vol, 'ERR_INVALID_ARGUMENT', 'write at a fractional offset', () => vol.write(1.5, filled(2, 7)));
      await refuses(vol, 'ERR_INVALID_ARGUMENT', 'write of an array', () => vol.write(0, [1, 2, 3] as unknown as Uint8Array));
      await refuses(vol, 'ERR_INVALID_ARGUMENT', 'write of a string', () => vol.write(0, 'abc' as unknown as Uint8Array));
      expect(await codeOf(() => vol.read(4000, 97))).toBe('ERR_OUT_OF_RANGE');
      expect(await codeOf(() => vol.read(2 ** 53, 1))).toBe('ERR_INVALID_ARGUMENT');
      expect(await codeOf(() => vol.read(0, -1))).toBe('ERR_INVALID_ARGUMENT');
      expect(await codeOf(() => vol.read(0, Number.NaN))).toBe('ERR_INVALID_ARGUMENT');
      expect(await codeOf(() => vol.read(0, 1, { checkpoint: 'nope' }))).toBe('ERR_NOT_FOUND');
    });
  });

  it('discard takes whole blocks: they read as zeros; unaligned or out-of-range discards change nothing', async () => {
    await withDir(async (dir) => {
      const vol = await dir.createVolume('v', { size: 8 * 512, blockSize: 512 });
      await vol.write(0, filled(vol.size, 5));
      await vol.discard(512, 1024);
      const image = await vol.read(0, vol.size);
      expect(image.subarray(0, 512).every((b) => b === 5)).toBe(true);
      expect(image.subarray(512, 1536).every((b) => b === 0)).toBe(true);
      expect(image.subarray(1536).every((b) => b === 5)).toBe(true);
      expect(await collect(vol.diff(null))).toEqual([{ kind: 'data', start: 0, count: 1 }, { kind: 'data', start: 3, count: 5 }]);
      await vol.discard(0, 0);
      await refuses(vol, 'ERR_INVALID_ARGUMENT', 'discard at an unaligned offset', () => vol.discard(100, 512));
      await refuses(vol, 'ERR_INVALID_ARGUMENT', 'discard of an unaligned length', () => vol.discard(512, 100));
      await refuses(vol, 'ERR_OUT_OF_RANGE', 'discard past the end', () => vol.discard(3584, 1024));
      await refuses(vol, 'ERR_INVALID_ARGUMENT', 'discard at a negative offset', () => vol.discard(-512, 512));
    });
  });

  it('at granularity g a granule coming into use is zeros around the data; discarding part of a granule zeroes just those blocks', async () => {
    await withDir(async (dir) => {
      const vol = await dir.createVolume('v', { size: 10 * 512, blockSize: 512, granularity: 2 }); // granules 0-3, 4-7, 8-9
      await vol.write(5 * 512 + 10, filled(20, 3));
      expect(await collect(vol.diff(null))).toEqual([{ kind: 'data', start: 4, count: 4 }]);
      await vol.write(4 * 512, filled(512, 4));
      await vol.discard(4 * 512, 512); // part of an in-use granule: zeros, still in use
      expect((await vol.read(4 * 512, 512)).every((b) => b === 0)).toBe(true);
      expect((await vol.read(5 * 512 + 10, 20)).every((b) => b === 3)).toBe(true);
      expect((await vol.diffSize(null)).dataBlocks).toBe(4);
      await vol.write(9 * 512, filled(512, 9)); // the short last granule
      expect((await vol.diffSize(null)).dataBlocks).toBe(6);
      await vol.discard(8 * 512, 2 * 512); // the whole short granule, up to the end
      expect((await vol.diffSize(null)).dataBlocks).toBe(4);
      await vol.discard(4 * 512, 4 * 512);
      expect((await vol.diffSize(null)).dataBlocks).toBe(0);
      expect((await vol.read(0, vol.size)).every((b) => b === 0)).toBe(true);
    });
  });

  // A discard across a granule boundary that covers no whole granule touches two
  // partial granules; each is zeroed by its own in-use bit (once only the first's counted).
  it('a discard across a granule boundary zeroes the discarded blocks of an in-use granule', async () => {
    await withDir(async (dir) => {
      const vol = await dir.createVolume('v', { size: 8 * 512, blockSize: 512, granularity: 2 }); // granules 0-3, 4-7
      await vol.write(5 * 512, filled(512, 7)); // granule 1 in use, granule 0 not
      await vol.discard(2 * 512, 4 * 512); // blocks 2-5: part of granule 0, part of granule 1
      const block5 = await vol.read(5 * 512, 512);
      expect(block5[0], 'block 5 was discarded: it must read as zeros').toBe(0);
    });
  });
});

describe(`large ranges (${backend})`, () => {
  it('writes, reads, deltas and imports larger than one step (4 MiB) are exact', async () => {
    await withDir(async (dir) => {
      const blocks = 9000; // 512-byte blocks: a step is 8192 blocks
      const vol = await dir.createVolume('big', { size: blocks * 512, blockSize: 512, granularity: 2 });
      const prng = new Prng(SEED ^ 0xb16);
      const model = prng.fill(new Uint8Array(vol.size));
      await vol.write(0, model);
      await vol.createCheckpoint('big-a');
      const a = model.slice();
      const second = prng.fill(new Uint8Array(vol.size - 1000));
      await vol.write(333, second);
      model.set(second, 333);
      await vol.discard(8190 * 512, 8 * 512); // across the step boundary at block 8192
      model.fill(0, 8190 * 512, 8198 * 512);
      expect(Buffer.compare(await vol.read(0, vol.size), model)).toBe(0);
      expect(Buffer.compare(await vol.read(0, vol.size, { checkpoint: 'big-a' }), a)).toBe(0);
      expect(Buffer.compare(await vol.read(8191 * 512 + 7, 3 * 512), model.subarray(8191 * 512 + 7, 8194 * 512 + 7))).toBe(0);
      const chunks = await collect(vol.delta('big-a'));
      const applied = a.slice();
      for (const c of chunks) {
        if (c.kind === 'data') applied.set(c.data!, c.start * 512);
        else applied.fill(0, c.start * 512, (c.start + c.count) * 512);
      }
      expect(Buffer.compare(applied, model)).toBe(0);
      expect(chunks.filter((c) => c.kind === 'data').reduce((n, c) => n + c.count, 0)).toBe((await vol.diffSize('big-a')).dataBlocks);
      await vol.createCheckpoint('big-b');
      const copy = await dir.clone('big-a', 'copy');
      await copy.importDiff(vol.exportDiff('big-a', 'big-b'));
      expect(Buffer.compare(await copy.read(0, copy.size), model)).toBe(0);
      await vol.restore('big-a');
      expect(Buffer.compare(await vol.read(0, vol.size), a)).toBe(0);
    });
  });
});

describe(`checkpoints (${backend})`, () => {
  it('create, list, read, delete and restore; names are checked and unique in their volume', async () => {
    await withDir(async (dir) => {
      const vol = await dir.createVolume('v', { size: 8 * 512, blockSize: 512 });
      const other = await dir.createVolume('w', { size: 8 * 512, blockSize: 512 });
      await vol.write(0, filled(512, 1));
      const first = await vol.createCheckpoint();
      expect(first.name).toBe('v.ckpt1');
      expect(first.image).toBe(first.id);
      expect(vol.base).toBe(first.image);
      await vol.write(0, filled(512, 2));
      const named = await vol.createCheckpoint('monday');
      expect(named.seq).toBe(2);
      await vol.write(0, filled(512, 3));
      expect(vol.listCheckpoints().map((c) => c.name)).toEqual(['v.ckpt1', 'monday']);
      expect((await vol.read(0, 1, { checkpoint: 'v.ckpt1' }))[0]).toBe(1);
      expect((await vol.read(0, 1, { checkpoint: 'monday' }))[0]).toBe(2);
      expect((await vol.read(0, 1))[0]).toBe(3);

      await refuses(vol, 'ERR_EXISTS', 'a duplicate checkpoint name', () => vol.createCheckpoint('monday'));
      // Names are per volume (w@monday beside v@monday), and v@name is accepted where v's checkpoints are named.
      expect((await other.createCheckpoint('monday')).name).toBe('monday');
      expect((await vol.read(0, 1, { checkpoint: 'v@monday' }))[0]).toBe(2);
      await refuses(vol, 'ERR_INVALID_ARGUMENT', "another volume's checkpoint", () => vol.read(0, 1, { checkpoint: 'w@monday' }));
      expect(await codeOf(() => dir.findCheckpoint('monday'))).toBe('ERR_AMBIGUOUS');
      await other.deleteCheckpoint('w@monday');
      for (const name of ['', '-x', 'a/b', 'x'.repeat(129), 'a b']) {
        await refuses(vol, 'ERR_INVALID_ARGUMENT', `checkpoint name ${JSON.stringify(name)}`, () => vol.createCheckpoint(name));
      }
      await refuses(vol, 'ERR_NOT_FOUND', 'delete of an unknown checkpoint', () => vol.deleteCheckpoint('tuesday'));
      await other.createCheckpoint('elsewhere');
      await refuses(vol, 'ERR_NOT_FOUND', "delete of another volume's checkpoint", () => vol.deleteCheckpoint('elsewhere'));
      await refuses(vol, 'ERR_NOT_FOUND', 'restore of an unknown checkpoint', () => vol.restore('tuesday'));
      await refuses(vol, 'ERR_NOT_FOUND', "restore of another volume's checkpoint", () => vol.restore('elsewhere'));

      await vol.restore('v.ckpt1');
      expect((await vol.read(0, 1))[0]).toBe(1);
      expect(vol.base).toBe(first.image);
      await vol.deleteCheckpoint('v.ckpt1');
      expect(vol.listCheckpoints().map((c) => c.name)).toEqual(['monday']);
      expect((await vol.read(0, 1, { checkpoint: 'monday' }))[0]).toBe(2);
      const again = await vol.createCheckpoint('v.ckpt1'); // a deleted name can be used again
      expect(again.seq).toBe(3);
      expect(again.image).toBe(first.image); // the live image is still the one restored
    });
  });
});

describe(`deltas (${backend})`, () => {
  it('diff, delta and diffSize of a known example', async () => {
    await withDir(async (dir) => {
      const vol = await sample(dir);
      const expected = [
        { kind: 'data', start: 2, count: 1 },
        { kind: 'unused', start: 3, count: 1 },
        { kind: 'data', start: 5, count: 1 },
      ];
      expect(await collect(vol.diff('vol-a', 'vol-b'))).toEqual(expected);
      expect(await collect(vol.diff('vol-a'))).toEqual(expected);
      expect(await vol.diffSize('vol-a', 'vol-b')).toEqual({ dataBlocks: 2, unusedBlocks: 1, dataBytes: 1024 });
      const chunks: DeltaChunk[] = await collect(vol.delta('vol-a', 'vol-b'));
      expect(chunks.map(({ kind, start, count }) => ({ kind, start, count }))).toEqual(expected);
      expect(chunks[0]!.data).toEqual(filled(512, 2));
      expect(chunks[1]!.data).toBeUndefined();
      expect(await collect(vol.diff('vol-b'))).toEqual([]);
      expect(await collect(vol.diff(null, 'vol-a'))).toEqual([{ kind: 'data', start: 0, count: 4 }]);
      expect(await vol.diffSize(null)).toEqual({ dataBlocks: 4, unusedBlocks: 0, dataBytes: 2048 });
    });
  });

  it('M not younger than L is ERR_NOT_YOUNGER (FIG. 34 step 582); unknown names are ERR_NOT_FOUND', async () => {
    await withDir(async (dir) => {
      const vol = await sample(dir);
      const ops = {
        diff: (l: string, m?: string) => vol.diff(l, m),
        delta: (l: string, m?: string) => vol.delta(l, m),
        diffSize: (l: string, m?: string) => vol.diffSize(l, m),
        exportDiff: (l: string, m?: string) => vol.exportDiff(l, m),
      };
      for (const [name, op] of Object.entries(ops)) {
        await refuses(vol, 'ERR_NOT_YOUNGER', `${name}(b, a)`, () => op('vol-b', 'vol-a'));
        await refuses(vol, 'ERR_NOT_YOUNGER', `${name}(a, a)`, () => op('vol-a', 'vol-a'));
        await refuses(vol, 'ERR_NOT_FOUND', `${name}(nope)`, () => op('nope'));
        await refuses(vol, 'ERR_NOT_FOUND', `${name}(a, nope)`, () => op('vol-a', 'nope'));
      }
      // The refusal comes before any lock is taken: the volume stays usable.
      await vol.write(0, filled(1, 1));
    });
  });
});

describe(`delta streams (${backend})`, () => {
  it('exportDiff -> importDiff: a clone and an incremental chain across data directories', async () => {
    const pathB = tempDir();
    await withDir(async (dir) => {
      const vol = await sample(dir, 'vol', 1);
      const dirB = await DataDir.open(pathB, { kernels: backend });
      try {
        const replica = await dirB.createVolume('replica', { size: vol.size, blockSize: vol.blockSize, granularity: 1 });
        const full = await replica.importDiff(vol.exportDiff(null, 'vol-a'));
        expect(full.header.from.id).toBe(EMPTY_IMAGE);
        expect(replica.base).toBe(vol.listCheckpoints()[0]!.image);
        expect(Buffer.compare(await replica.read(0, replica.size), await vol.read(0, vol.size, { checkpoint: 'vol-a' }))).toBe(0);
        const step = await replica.importDiff(vol.exportDiff('vol-a', 'vol-b'));
        // g = 1: block 2 written, block 3 zeroed (its granule 2-3 stays in use), granule 4-5 came into use.
        expect([step.dataBlocks, step.unusedBlocks]).toEqual([4, 0]);
        expect(replica.base).toBe(vol.listCheckpoints()[1]!.image);
        expect(Buffer.compare(await replica.read(0, replica.size), await vol.read(0, vol.size, { checkpoint: 'vol-b' }))).toBe(0);
        expect(await collect(replica.diff(null))).toEqual(await collect(vol.diff(null, 'vol-b')));
        const local = await dir.clone('vol-b', 'local');
        expect(local.base).toBe(replica.base);
        expect(Buffer.compare(await local.read(0, local.size), await replica.read(0, replica.size))).toBe(0);
      } finally {
        await dirB.close();
      }
    });
  });

  it('copyDelta (fs_copy): a full copy first, then deltas; a copy from the wrong image changes nothing', async () => {
    await withDir(async (dir) => {
      const vol = await sample(dir);
      await sample(dir, 'other');
      const image = (name: string) => vol.read(0, vol.size, { checkpoint: name });
      // An absent target with the checkpoints the wrong way round is refused like the other paths, and not made.
      expect(await codeOf(() => dir.copyDelta('vol-a', 'copy', 'vol-b'))).toBe('ERR_NOT_YOUNGER');
      expect(await codeOf(() => dir.copyDelta('vol-a', 'copy', 'vol-a'))).toBe('ERR_NOT_YOUNGER');
      expect(await dir.volumeNames()).toEqual(['other', 'vol']);
      expect(await dir.copyDelta('vol-b', 'copy', 'vol-a')).toMatchObject({ full: true });
      const copy = await dir.volume('copy');
      expect(Buffer.compare(await copy.read(0, copy.size), await image('vol-b'))).toBe(0);
      await vol.write(7 * 512, filled(512, 7));
      await vol.createCheckpoint('vol-c');
      await refuses(copy, 'ERR_NOT_FOUND', 'an older checkpoint of another volume', () => dir.copyDelta('vol-c', 'copy', 'other-a'));
      await refuses(copy, 'ERR_NOT_FOUND', 'an unknown newer checkpoint', () => dir.copyDelta('nope', 'copy', 'vol-b'));
      await refuses(copy, 'ERR_NOT_YOUNGER', 'newer older than older', () => dir.copyDelta('vol-a', 'copy', 'vol-c'));
      await refuses(copy, 'ERR_WRONG_BASE', 'a delta from an image the copy does not hold', () => dir.copyDelta('vol-c', 'copy', 'vol-a'));
      await refuses(copy, 'ERR_INVALID_ARGUMENT', 'a bad target name', () => dir.copyDelta('vol-c', 'no/such', 'vol-b'));
      expect(await dir.copyDelta('vol-c', 'copy', 'vol-b')).toEqual({ full: false, dataBlocks: 1, unusedBlocks: 0 });
      expect(Buffer.compare(await copy.read(0, copy.size), await image('vol-c'))).toBe(0);
    });
  });

  it('a truncated stream is ERR_CORRUPT at every cut, and the target stays exactly as it was', async () => {
    await withDir(async (dir) => {
      const vol = await sample(dir);
      const target = await dir.clone('vol-a', 'target');
      await target.createCheckpoint('target-a');
      const stream = await streamOf(vol.exportDiff('vol-a', 'vol-b'));
      const before = await snapshot(target);
      const cuts = new Set<number>([0, 1, 7, 8, 15, 16, 17, stream.length - 1, stream.length - 24, stream.length - 23, stream.length - 25]);
      const prng = new Prng(SEED ^ 0x51);
      while (cuts.size < 60) cuts.add(prng.int(1, stream.length - 1));
      for (const cut of [...cuts].sort((a, b) => a - b)) {
        const code = await codeOf(() => target.importDiff(feed(stream.slice(0, cut))));
        expect(code, `cut at ${cut} of ${stream.length}`).toBe('ERR_CORRUPT');
      }
      await expectUnchanged(target, before, 'after the truncated streams');
      // ... also across a close and reopen (nothing was committed).
      await dir.close();
      const reopened = await DataDir.open(dir.path, { kernels: backend });
      try {
        const again = await reopened.volume('target');
        await expectUnchanged(again, before, 'after reopening');
        await again.importDiff(feed(stream));
        const vol2 = await reopened.volume('vol');
        expect(Buffer.compare(await again.read(0, again.size), await vol2.read(0, vol2.size, { checkpoint: 'vol-b' }))).toBe(0);
      } finally {
        await reopened.close();
      }
    });
  });

  it('a stream with any byte flipped is ERR_CORRUPT, and the target stays exactly as it was', async () => {
    await withDir(async (dir) => {
      const vol = await sample(dir);
      const target = await dir.clone('vol-a', 'target');
      const stream = await streamOf(vol.exportDiff('vol-a', 'vol-b'));
      const before = await snapshot(target);
      const jsonLength = new DataView(stream.buffer).getUint32(12, true);
      const positions = new Set<number>();
      for (let i = 0; i < 20; i++) positions.add(i); // magic, version, flags, JSON length, start of the JSON
      for (let i = 16 + jsonLength - 4; i < 16 + jsonLength + 4 + 24; i++) positions.add(i); // end of JSON, its crc, first record head
      for (let i = stream.length - 24; i < stream.length; i++) positions.add(i); // trailer
      const prng = new Prng(SEED ^ 0xf1);
      while (positions.size < 140) positions.add(prng.int(0, stream.length - 1));
      for (const at of [...positions].sort((a, b) => a - b)) {
        const bad = stream.slice();
        bad[at] = bad[at]! ^ (1 << prng.int(0, 7));
        const code = await codeOf(() => target.importDiff(feed(bad.subarray(0, at + 1), bad.subarray(at + 1))));
        expect(code, `byte ${at} of ${stream.length} flipped`).toBe('ERR_CORRUPT');
      }
      await expectUnchanged(target, before, 'after the corrupt streams');
      for (const [what, bytes] of [
        ['an empty stream', new Uint8Array(0)],
        ['random bytes', prng.fill(new Uint8Array(3000))],
        ['a magic alone', new TextEncoder().encode('SNAPDIFF')],
        ['bytes after the trailer', Buffer.concat([stream, new Uint8Array([0])])],
        ['a stream twice', Buffer.concat([stream, stream])],
      ] as const) {
        expect(await codeOf(() => target.importDiff(feed(new Uint8Array(bytes)))), what).toBe('ERR_CORRUPT');
      }
      await expectUnchanged(target, before, 'after the garbage streams');
    });
  });

  it('a stream for another image or geometry is refused (ERR_WRONG_BASE / ERR_INVALID_ARGUMENT) and changes nothing', async () => {
    await withDir(async (dir) => {
      const vol = await sample(dir);
      const other = await sample(dir, 'other'); // same geometry, different images
      const wide = await dir.createVolume('wide', { size: 16 * 4096, blockSize: 4096 });
      await wide.write(0, filled(4096, 1));
      await wide.createCheckpoint('wide-a');
      const g1 = await dir.createVolume('g1', { size: 16 * 512, blockSize: 512, granularity: 1 });
      await g1.createCheckpoint('g1-a');
      await g1.write(0, filled(512, 1));
      await g1.createCheckpoint('g1-b');
      const target = await dir.clone('vol-a', 'target');

      const fromOther = await streamOf(other.exportDiff('other-a', 'other-b'));
      await refuses(target, 'ERR_WRONG_BASE', "a stream of another volume's images", () => target.importDiff(feed(fromOther)));
      const full = await streamOf(other.exportDiff(null, 'other-b'));
      await refuses(target, 'ERR_WRONG_BASE', 'a full stream into a volume that is not empty', () => target.importDiff(feed(full)));
      const skip = await streamOf(vol.exportDiff('vol-b'));
      await refuses(target, 'ERR_WRONG_BASE', 'a stream from a younger image', () => target.importDiff(feed(skip)));
      await refuses(target, 'ERR_INVALID_ARGUMENT', 'a stream of another block size', async () => target.importDiff(feed(await streamOf(wide.exportDiff(null, 'wide-a')))));
      await refuses(target, 'ERR_INVALID_ARGUMENT', 'a stream of another granularity', async () => target.importDiff(feed(await streamOf(g1.exportDiff('g1-a', 'g1-b')))));

      // The header checks come before the records: a well-formed stream that does not fit is not corrupt.
      const forged = (header: Partial<DeltaHeader>, records: DeltaChunk[] = []) => {
        const writer = new StreamWriter();
        const h: DeltaHeader = {
          volume: { name: 'x', uuid: 'x' }, from: { id: target.base!, name: 'x' }, to: { id: 'forged', name: 'y' },
          blockSize: 512, blocks: 16, granularity: 0,
          dataBlocks: records.filter((r) => r.kind === 'data').reduce((s, r) => s + r.count, 0),
          unusedBlocks: records.filter((r) => r.kind === 'unused').reduce((s, r) => s + r.count, 0),
          ...header,
        };
        const pieces = [writer.header(h)];
        for (const r of records) pieces.push(...writer.record(r));
        pieces.push(writer.trailer());
        return new Uint8Array(Buffer.concat(pieces));
      };
      await refuses(target, 'ERR_INVALID_ARGUMENT', 'a forged stream of another size', () => target.importDiff(feed(forged({ blocks: 17 }))));
      await refuses(target, 'ERR_WRONG_BASE', 'a forged stream from another image', () => target.importDiff(feed(forged({ from: { id: 'elsewhere', name: 'x' } }))));
      await refuses(target, 'ERR_CORRUPT', 'records past the end', () => target.importDiff(feed(forged({}, [{ kind: 'data', start: 15, count: 2, data: filled(1024, 1) }]))));
      await refuses(target, 'ERR_CORRUPT', 'records out of order', () => target.importDiff(feed(forged({}, [
        { kind: 'data', start: 5, count: 1, data: filled(512, 1) }, { kind: 'unused', start: 2, count: 1 },
      ]))));
      await refuses(target, 'ERR_CORRUPT', 'counts that disagree with the header', () => target.importDiff(feed(forged({ dataBlocks: 3 }, [
        { kind: 'data', start: 5, count: 1, data: filled(512, 1) },
      ]))));
      // A consistent forged stream does apply (the format, not its origin, is what is checked).
      await target.importDiff(feed(forged({}, [{ kind: 'data', start: 6, count: 1, data: filled(512, 6) }])));
      expect((await target.read(6 * 512, 1))[0]).toBe(6);
      expect(target.base).toBe('forged');

      // A volume that changed since its last known image takes no stream.
      const fresh = await dir.clone('vol-a', 'fresh');
      await fresh.write(10, filled(1, 1));
      expect(fresh.base).toBeNull();
      const next = await streamOf(vol.exportDiff('vol-a', 'vol-b'));
      await refuses(fresh, 'ERR_WRONG_BASE', 'a stream into a changed volume', () => fresh.importDiff(feed(next)));
    });
  });

  it('the header of a stream names the images and geometry; a reader sees the same extents as delta()', async () => {
    await withDir(async (dir) => {
      const vol = await sample(dir);
      const [a, b] = vol.listCheckpoints();
      const reader = new StreamReader();
      const records = [];
      for (const event of reader.push(await streamOf(vol.exportDiff('vol-a', 'vol-b')))) if (event.type === 'record') records.push(event.record);
      reader.end();
      expect(reader.header).toMatchObject({
        volume: { name: 'vol', uuid: vol.uuid }, from: { id: a!.image, name: 'vol-a' }, to: { id: b!.image, name: 'vol-b' },
        blockSize: 512, blocks: 16, granularity: 0, dataBlocks: 2, unusedBlocks: 1,
      });
      const chunks = await collect(vol.delta('vol-a', 'vol-b'));
      expect(records).toEqual(chunks);
    });
  });
});

// Calls made together queue on the volume's lock; names must be resolved (and taken)
// in that order, not when each call was made, or later calls act on stale answers.
describe(`concurrent calls (${backend})`, () => {
  const outcome = (results: PromiseSettledResult<unknown>[]) => results.map((r) => (r.status === 'fulfilled'
    ? 'ok' : r.reason instanceof SnapcopyError ? r.reason.code : `not a SnapcopyError: ${String(r.reason)}`));

  it('two createCheckpoint calls with one name: one of them is ERR_EXISTS', async () => {
    await withDir(async (dir) => {
      const vol = await dir.createVolume('v', { size: 8 * 512, blockSize: 512 });
      const results = await Promise.allSettled([vol.createCheckpoint('x'), vol.createCheckpoint('x')]);
      expect(vol.listCheckpoints().map((c) => c.name), 'checkpoint names in the queue').toEqual(['x']);
      expect(outcome(results).sort()).toEqual(['ERR_EXISTS', 'ok']);
    });
  });

  it('two deleteCheckpoint calls of one checkpoint: the second is ERR_NOT_FOUND and the others keep their images', async () => {
    await withDir(async (dir, path) => {
      const vol = await dir.createVolume('v', { size: 8 * 512, blockSize: 512 });
      await vol.write(0, filled(512, 1));
      for (const name of ['a', 'b', 'c']) await vol.createCheckpoint(name);
      const results = await Promise.allSettled([vol.deleteCheckpoint('b'), vol.deleteCheckpoint('b')]);
      // Once, both succeeded: the second dropped the tail 'c' from memory (not from
      // volume.json), so the next write saved no before-image for it.
      const names = vol.listCheckpoints().map((c) => c.name);
      await vol.write(0, filled(512, 2));
      await dir.close();
      const again = await DataDir.open(path, { kernels: backend });
      try {
        const reopened = await again.volume('v');
        expect.soft(outcome(results), 'the two deletes').toEqual(['ok', 'ERR_NOT_FOUND']);
        expect.soft(names, 'the queue after the deletes').toEqual(['a', 'c']);
        expect.soft(reopened.listCheckpoints().map((c) => c.name), 'the queue after a reopen').toEqual(['a', 'c']);
        expect.soft((await reopened.read(0, 1, { checkpoint: 'c' }))[0], "block 0 of checkpoint c's image").toBe(1);
      } finally {
        await again.close();
      }
    });
  });

  it('a read of a checkpoint that a queued delete removes is ERR_NOT_FOUND', async () => {
    await withDir(async (dir) => {
      const vol = await dir.createVolume('v', { size: 8 * 512, blockSize: 512 });
      await vol.createCheckpoint('a');
      await vol.createCheckpoint('b');
      const results = await Promise.allSettled([vol.deleteCheckpoint('a'), vol.read(0, 512, { checkpoint: 'a' })]);
      expect(outcome(results)).toEqual(['ok', 'ERR_NOT_FOUND']);
    });
  });
});
