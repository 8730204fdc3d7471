// Nop-write: a write of a block with the content it already holds is no change
// (DESIGN.md §2). Checked against a plain model with nop-write on and off (seeded,
// printed: replay with SNAPCOPY_SEED=<seed>): images stay exact, every delta is
// exact, and with nop-write on a delta holds only blocks some write really changed
// (content, or a granule coming into use); an unchanged rewrite makes an empty delta;
// successive SQLite versions written in full give deltas of the blocks that differ.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDir, type Volume } from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { hasSqlite } from '../helpers/sqlite.js';

const SEED = testSeed('nop-write');
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tempDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'snapcopy-nop-'));
  roots.push(root);
  return root;
}

async function withVolume<T>(
  options: { compare: boolean; blocks: number; blockSize: number; granularity: number },
  body: (vol: Volume) => Promise<T>,
): Promise<T> {
  const dir = await DataDir.open(join(tempDir(), 'data'), { kernels: backend, compareBeforeWrite: options.compare });
  try {
    const vol = await dir.createVolume('vol', {
      size: options.blocks * options.blockSize, blockSize: options.blockSize, granularity: options.granularity,
    });
    return await body(vol);
  } finally {
    await dir.close();
  }
}

/** Whether two byte ranges are equal, compared in place (Buffer.from of a Uint8Array would copy it). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** The blocks of delta(older, newer) by kind, checked to carry newer's data. */
async function deltaBlocks(vol: Volume, older: string, newer: string | undefined, image: Uint8Array) {
  const data = new Set<number>();
  const unused = new Set<number>();
  const size = vol.blockSize;
  for await (const chunk of vol.delta(older, newer)) {
    for (let b = chunk.start; b < chunk.start + chunk.count; b++) (chunk.kind === 'data' ? data : unused).add(b);
    if (chunk.kind === 'data') {
      const want = image.subarray(chunk.start * size, (chunk.start + chunk.count) * size);
      if (!same(chunk.data!, want)) throw new Error(`delta(${older}, ${newer}) data of [${chunk.start}, +${chunk.count}) differs from the image`);
    }
  }
  return { data, unused };
}

interface Frozen {
  name: string;
  image: Uint8Array;
  meta: Uint8Array;
  /** Per block: whether a write changed it (content or coming into use) since this checkpoint. */
  changed: Uint8Array;
}

/** `data` in pieces of random sizes (an input streamed to writeFrom). */
async function* randomPieces(data: Uint8Array, prng: Prng): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length;) {
    const n = prng.int(1, Math.max(1, prng.pick([7, 512, 70_000, data.length])));
    yield data.slice(at, at + n);
    at += n;
  }
}

/**
 * Runs `ops` random writes and checkpoints against the model; returns the blocks the
 * deltas held. Writes go through write and, half of them, writeFrom (streamed in random
 * pieces); with 64 KiB blocks a step of the staged write is 64 blocks, so writeFrom's
 * comparing stage crosses steps.
 */
async function modelRun(seed: number, compare: boolean, granularity: number, size = 512): Promise<number> {
  const prng = new Prng(seed);
  const blocks = 192;
  const granule = 2 ** granularity;
  const image = new Uint8Array(blocks * size);
  const meta = new Uint8Array(Math.ceil(blocks / granule));
  const frozen: Frozen[] = [];
  let deltaTotal = 0;
  const where = (op: number) => `seed ${seed} (SNAPCOPY_SEED=${SEED}), compare ${compare}, g ${granularity}, block ${size}, op ${op}`;
  return withVolume({ compare, blocks, blockSize: size, granularity }, async (vol) => {
    for (let op = 0; op < 80; op++) {
      if (prng.chance(0.12)) {
        const name = `c${op}`;
        await vol.createCheckpoint(name);
        frozen.push({ name, image: image.slice(), meta: meta.slice(), changed: new Uint8Array(blocks) });
        continue;
      }
      // New data: mostly what the volume holds already, with a few bytes changed (or none).
      const offset = prng.int(0, image.length - 1);
      const scale = size / 512;
      const length = prng.int(1, Math.min(image.length - offset, scale * prng.pick([1, 600, 3000, 20000])));
      const data = image.slice(offset, offset + length);
      const edits = prng.pick([0, 0, 1, 3]);
      for (let e = 0; e < edits; e++) data[prng.int(0, length - 1)] = prng.int(0, 255);
      if (prng.chance(0.5)) await vol.write(offset, data);
      else expect(await vol.writeFrom(offset, randomPieces(data, prng)), `${where(op)}: bytes written`).toBe(length);
      // The model: what a block looked like and whether it was in use, before and after.
      const first = Math.floor(offset / size);
      const end = Math.ceil((offset + length) / size);
      // Only blocks of the granules the write touches can change (content, or coming into use).
      const touchedStart = Math.floor(first / granule) * granule;
      const touchedEnd = Math.min(blocks, Math.ceil(end / granule) * granule);
      const before = image.slice(touchedStart * size, touchedEnd * size);
      const metaBefore = meta.slice();
      for (let k = Math.floor(first / granule); k <= Math.floor((end - 1) / granule); k++) {
        if (meta[k]) continue;
        image.fill(0, k * granule * size, Math.min(blocks, (k + 1) * granule) * size);
        meta[k] = 1;
      }
      image.set(data, offset);
      for (let b = touchedStart; b < touchedEnd; b++) {
        const was = before.subarray((b - touchedStart) * size, (b - touchedStart + 1) * size);
        const really = !metaBefore[Math.floor(b / granule)] !== !meta[Math.floor(b / granule)]
          || !same(was, image.subarray(b * size, (b + 1) * size));
        // With nop-write off every block the write covered counts as written.
        const written = b >= first && b < end;
        if (really || (!compare && written)) for (const f of frozen) f.changed[b] = 1;
      }
      if (prng.chance(0.2)) {
        expect(same(await vol.read(0, image.length), image), `${where(op)}: live image`).toBe(true);
      }
    }
    for (const f of frozen) {
      expect(same(await vol.read(0, image.length, { checkpoint: f.name }), f.image), `${where(-1)}: image of ${f.name}`).toBe(true);
      const { data, unused } = await deltaBlocks(vol, f.name, undefined, image);
      deltaTotal += data.size;
      for (let b = 0; b < blocks; b++) {
        const k = Math.floor(b / granule);
        const differs = !same(f.image.subarray(b * size, (b + 1) * size), image.subarray(b * size, (b + 1) * size));
        // Exact: every block that differs (or came into use) is in the delta.
        if (meta[k] && (differs || !f.meta[k])) expect(data.has(b), `${where(-1)}: block ${b} differs since ${f.name} but is not in the delta`).toBe(true);
        if (!meta[k] && f.meta[k]) expect(unused.has(b), `${where(-1)}: block ${b} went out of use since ${f.name}`).toBe(true);
        // Near-minimal: only blocks some write changed since (with nop-write on: really changed).
        if (data.has(b)) expect(f.changed[b], `${where(-1)}: block ${b} is in delta(${f.name}, live) but no write changed it`).toBe(1);
      }
    }
    return deltaTotal;
  });
}

describe(`nop-write (${backend} kernels)`, () => {
  it('images and deltas stay exact with nop-write on and off; on, deltas hold only blocks really changed', async () => {
    for (let round = 0; round < 2; round++) {
      for (const [g, size] of [[0, 512], [2, 512], [1, 65_536]] as const) {
        const seed = (SEED + round * 7919 + g) >>> 0;
        const on = await modelRun(seed, true, g, size);
        const off = await modelRun(seed, false, g, size);
        // The same writes: nop-write can only make deltas smaller.
        expect(on, `seed ${seed} g ${g} block ${size}: blocks in deltas with nop-write on and off`).toBeLessThanOrEqual(off);
      }
    }
  }, 120_000);

  it('an unchanged rewrite makes an empty delta, small or staged; with nop-write off it makes a full one', async () => {
    for (const compare of [true, false]) {
      await withVolume({ compare, blocks: 2048, blockSize: 4096, granularity: 0 }, async (vol) => {
        const prng = new Prng(SEED);
        const bytes = prng.fill(new Uint8Array(vol.size));
        await vol.write(0, bytes);
        await vol.createCheckpoint('a');
        await vol.write(0, bytes.subarray(0, 1 << 20)); // one step: one log record
        await vol.write(4096 * 100 + 17, bytes.subarray(4096 * 100 + 17, 4096 * 300 + 5)); // unaligned edges
        await vol.write(0, bytes); // 8 MiB: staged
        async function* pieces() {
          for (let at = 0; at < bytes.length; at += 65_536 + 3) yield bytes.subarray(at, at + 65_536 + 3);
        }
        await vol.writeFrom(0, pieces());
        await vol.createCheckpoint('b');
        const size = await vol.diffSize('a', 'b');
        expect(size.dataBlocks).toBe(compare ? 0 : 2048);
        expect(Buffer.from(await vol.read(0, vol.size, { checkpoint: 'a' })).equals(Buffer.from(bytes))).toBe(true);
        // One byte changed in the middle of a staged rewrite: one block.
        const edited = bytes.slice();
        edited[5_000_000] ^= 0xff;
        await vol.write(0, edited);
        expect((await vol.diffSize('b')).dataBlocks).toBe(compare ? 1 : 2048);
        expect(Buffer.from(await vol.read(0, vol.size)).equals(Buffer.from(edited))).toBe(true);
        expect(Buffer.from(await vol.read(0, vol.size, { checkpoint: 'b' })).equals(Buffer.from(bytes))).toBe(true);
      });
    }
  }, 60_000);

  it('a write of zeros into blocks not in use is not a nop: they come into use', async () => {
    await withVolume({ compare: true, blocks: 64, blockSize: 512, granularity: 2 }, async (vol) => {
      await vol.createCheckpoint('empty');
      await vol.write(512 * 5, new Uint8Array(512)); // granule 1 (blocks 4..7) comes into use
      expect([...(await collect(vol.diff('empty')))]).toEqual([{ kind: 'data', start: 4, count: 4 }]);
    });
  });

  const sqlite = hasSqlite();
  it.skipIf(!sqlite)('successive SQLite versions written in full: delta blocks at most 1.05 x the blocks that differ', async () => {
    const root = tempDir();
    const db = join(root, 'test.db');
    const run = (sql: string) => execFileSync('sqlite3', [db], { input: sql });
    // ~5 MiB: 20 000 rows of ~230 bytes, 4 KiB pages (the volume's block size).
    run(`PRAGMA page_size=4096; PRAGMA journal_mode=DELETE;
      CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
      INSERT INTO t SELECT i, hex(randomblob(115)) FROM n;`);
    const v1 = readFileSync(db);
    expect(v1.length).toBeGreaterThan(4 << 20);
    // 10% of the rows, spread over the table.
    run(`UPDATE t SET v = hex(randomblob(115)) WHERE id % 10 = 3;`);
    const v2 = readFileSync(db);
    const blockSize = 4096;
    const differ = differingBlocks(v1, v2, blockSize);
    await withVolume({ compare: true, blocks: 4096, blockSize, granularity: 0 }, async (vol) => {
      await vol.writeFrom(0, once(v1));
      await vol.createCheckpoint('v1');
      await vol.writeFrom(0, once(v2));
      await vol.createCheckpoint('v2');
      const { dataBlocks } = await vol.diffSize('v1', 'v2');
      console.log(`SQLite ${v1.length} -> ${v2.length} bytes: ${differ} blocks differ, delta ${dataBlocks} blocks (${(dataBlocks / differ).toFixed(3)} x)`);
      expect(dataBlocks).toBeGreaterThanOrEqual(differ);
      expect(dataBlocks).toBeLessThanOrEqual(Math.floor(1.05 * differ));
      expect(Buffer.from(await vol.read(0, v2.length, { checkpoint: 'v2' })).equals(v2)).toBe(true);
      expect(Buffer.from(await vol.read(0, v1.length, { checkpoint: 'v1' })).equals(v1)).toBe(true);
    });
  }, 60_000);
  if (!sqlite) console.log('nop-write: sqlite3 is not installed, the SQLite case is skipped (apt-get install -y sqlite3)');
});

/** Blocks of the longer file that differ from the other (past the shorter one's end: all). */
function differingBlocks(a: Uint8Array, b: Uint8Array, size: number): number {
  const blocks = Math.ceil(Math.max(a.length, b.length) / size);
  let n = 0;
  for (let i = 0; i < blocks; i++) {
    const x = Buffer.from(a.subarray(i * size, (i + 1) * size));
    const y = Buffer.from(b.subarray(i * size, (i + 1) * size));
    if (!x.equals(y)) n++;
  }
  return n;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}
