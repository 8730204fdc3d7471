// Save volume versions: SCSAVE02 (checksum64 records, made now) and SCSAVE01 (CRC-32
// records, made by older builds) both append, reopen, read back and recover from a torn
// or corrupt tail (the longest prefix whose checksums hold), and a version 1 log stays
// version 1 on disk when appended to after a reopen.
//
// Replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/checkpoint/save-log-versions.test.ts.

import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SAVE_HEADER_BYTES, SaveLog, type SaveVersion } from '../../src/checkpoint/save-log.js';
import { checksum64, checksum64Records, crc32, useChecksumKernels } from '../../src/storage/checksum.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('save-log-versions');
const BLOCK = 512;
const RECORD = 16 + BLOCK;
const INFO = { volume: 'vol', checkpoint: 'c1', blockSize: BLOCK };

let dir: string;
beforeAll(async () => {
  useChecksumKernels(backend);
  dir = await mkdtemp(join(tmpdir(), 'save-log-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

interface Model { blocks: number[]; images: Uint8Array[] }

async function appendSome(log: SaveLog, model: Model, prng: Prng, n: number, grow: boolean): Promise<void> {
  const blocks = Array.from({ length: n }, () => prng.int(0, 2 ** 32 - 1));
  const images = prng.fill(new Uint8Array(n * BLOCK));
  expect(await log.append(blocks, images, { grow })).toBe(model.blocks.length);
  for (let r = 0; r < n; r++) {
    model.blocks.push(blocks[r]!);
    model.images.push(images.slice(r * BLOCK, (r + 1) * BLOCK));
  }
  await log.sync();
}

async function reopen(path: string, trusted = 0): Promise<{ log: SaveLog; seen: number[] }> {
  const seen: number[] = [];
  const log = await SaveLog.open(path, INFO, trusted, (block, index) => { seen[index] = block; });
  return { log, seen };
}

async function expectHolds(log: SaveLog, model: Model): Promise<void> {
  expect(log.count).toBe(model.blocks.length);
  const into = new Uint8Array(model.blocks.length * BLOCK);
  const blocks = await log.readImages(0, model.blocks.length, into);
  expect([...blocks]).toEqual(model.blocks);
  for (let r = 0; r < model.blocks.length; r++) expect(into.subarray(r * BLOCK, (r + 1) * BLOCK)).toEqual(model.images[r]);
}

function cut(model: Model, n: number): Model {
  return { blocks: model.blocks.slice(0, n), images: model.images.slice(0, n) };
}

describe.each([1, 2] as SaveVersion[])('save volume version %i', (version) => {
  test('appends, reopens, reads back, appends again in its own format', async () => {
    const prng = new Prng(SEED + version);
    const path = join(dir, `v${version}-round`);
    let log = await SaveLog.create(path, INFO, version);
    const model: Model = { blocks: [], images: [] };
    await appendSome(log, model, prng, 5, false);
    await appendSome(log, model, prng, 1, true);
    await appendSome(log, model, prng, 600, true); // more than one 256 KiB staging chunk
    await log.close();
    let opened = await reopen(path);
    log = opened.log;
    expect(log.version).toBe(version);
    expect(opened.seen).toEqual(model.blocks);
    await expectHolds(log, model);
    await appendSome(log, model, prng, 7, false);
    await log.close();
    opened = await reopen(path, 3);
    expect(opened.seen.slice(3)).toEqual(model.blocks.slice(3));
    await expectHolds(opened.log, model);
    await opened.log.close();
    // The bytes on disk are the version's own format.
    const bytes = await readFile(path);
    expect(bytes.subarray(0, 8).toString()).toBe(`SCSAVE0${version}`);
    const at = SAVE_HEADER_BYTES + 10 * RECORD;
    const head = Buffer.from(bytes.subarray(at, at + 16));
    const image = bytes.subarray(at + 16, at + RECORD);
    expect(head.readUInt32LE(0)).toBe(model.blocks[10]);
    if (version === 1) {
      const blockBytes = head.subarray(0, 4);
      expect(head.readUInt32LE(4)).toBe(crc32(image, crc32(blockBytes)));
      expect(head.readUInt32LE(8)).toBe(0x53524543);
    } else {
      expect(head.readUInt32LE(4)).toBe(0x53524543);
      const sum = head.readBigUInt64LE(8);
      head.writeBigUInt64LE(0n, 8);
      expect(sum).toBe(checksum64([head, image]));
    }
  });

  test('a torn or corrupt tail is cut at the longest prefix that holds, and appends go on from there', async () => {
    const prng = new Prng(SEED + 10 * version);
    for (let round = 0; round < 6; round++) {
      const path = join(dir, `v${version}-torn-${round}`);
      const log = await SaveLog.create(path, INFO, version);
      const model: Model = { blocks: [], images: [] };
      await appendSome(log, model, prng, prng.int(2, 40), prng.chance(0.5));
      await log.close();
      const keep = prng.int(0, model.blocks.length - 1);
      const bytes = await readFile(path);
      if (round % 2 === 0) {
        // A crash mid-append: the file ends inside record `keep` (or has it half zeros).
        const end = SAVE_HEADER_BYTES + keep * RECORD + prng.int(0, RECORD - 1);
        if (prng.chance(0.5)) await truncate(path, end);
        else await writeFile(path, Buffer.concat([bytes.subarray(0, end), Buffer.alloc(bytes.length - end)]));
      } else {
        // The last record, `keep`, with one flipped byte anywhere its checksum covers: head
        // (block number, magic, sum) or image. Version 1's reserved word (head bytes 12-16)
        // is outside its CRC; the test below flips it.
        let offset = prng.int(0, RECORD - 1);
        if (version === 1 && offset >= 12 && offset < 16) offset = prng.int(16, RECORD - 1);
        const at = SAVE_HEADER_BYTES + keep * RECORD + offset;
        bytes[at] ^= 1 << prng.int(0, 7);
        await writeFile(path, bytes.subarray(0, SAVE_HEADER_BYTES + (keep + 1) * RECORD));
      }
      const opened = await reopen(path);
      const kept = cut(model, keep);
      expect(opened.seen, `seed ${SEED} round ${round}`).toEqual(kept.blocks);
      await expectHolds(opened.log, kept);
      await appendSome(opened.log, kept, prng, 3, true);
      await opened.log.close();
      const again = await reopen(path);
      expect(again.log.version).toBe(version);
      await expectHolds(again.log, kept);
      await again.log.close();
      expect((await stat(path)).size).toBeGreaterThanOrEqual(SAVE_HEADER_BYTES + kept.blocks.length * RECORD);
    }
  });

  if (version === 1) {
    test('a flip in version 1\'s reserved word, which no checksum covers, keeps the record: its block and image still hold', async () => {
      const prng = new Prng(SEED + 20);
      const path = join(dir, 'v1-reserved');
      const log = await SaveLog.create(path, INFO, 1);
      const model: Model = { blocks: [], images: [] };
      await appendSome(log, model, prng, 4, false);
      await log.close();
      const bytes = await readFile(path);
      bytes[SAVE_HEADER_BYTES + 3 * RECORD + prng.int(12, 15)] ^= 1 << prng.int(0, 7);
      await writeFile(path, bytes);
      const opened = await reopen(path);
      expect(opened.seen).toEqual(model.blocks);
      await expectHolds(opened.log, model);
      await opened.log.close();
    });
  }
});

test('new save volumes are version 2', async () => {
  const path = join(dir, 'default');
  const log = await SaveLog.create(path, INFO);
  expect(log.version).toBe(2);
  await log.close();
  expect((await readFile(path)).subarray(0, 8).toString()).toBe('SCSAVE02');
});

test('checksum64Records equals checksum64 of each record, across staging chunks', () => {
  const prng = new Prng(SEED + 99);
  for (const stride of [4, 20, 8208, 300_004]) {
    const n = prng.int(1, 5);
    const bytes = prng.fill(new Uint8Array(stride * n));
    const sums = new BigUint64Array(n);
    checksum64Records(bytes, stride, n, sums);
    for (let r = 0; r < n; r++) expect(sums[r], `stride ${stride} record ${r}`).toBe(checksum64(bytes.subarray(r * stride, (r + 1) * stride)));
  }
  expect(() => checksum64Records(new Uint8Array(6), 6, 1, new BigUint64Array(1))).toThrow(/multiple of 4/);
});
