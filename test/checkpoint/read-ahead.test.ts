// Reads ahead (src/checkpoint/read-ahead.ts) and the export built on them: results in
// job order whatever order the reads finish in, a ring buffer reused only after its
// result's consumer asked for the next one, failures thrown in turn, no read left
// running after the consumer stops; and delta() / exportDiff() over random volumes
// and checkpoints equal to a plain model, with every transient chunk intact until the
// next is asked for.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { readAhead } from '../../src/checkpoint/read-ahead.js';
import { lendChecksumBuffers, returnChecksumBuffers } from '../../src/storage/checksum.js';
import { DataDir, StreamReader, type Volume } from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { VolumeModel } from '../helpers/volume-model.js';

const SEED = testSeed('read-ahead');
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** Lets pending timers and I/O run, so reads in flight land before what follows. */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

/** A read that finishes after a random few timer turns or microtasks, filling `into` with the job's byte. */
function slowRead(prng: Prng, log: { started: number; finished: number; buffers: Set<Uint8Array> }) {
  return async (job: number, into: Uint8Array | undefined): Promise<{ job: number; bytes: Uint8Array }> => {
    log.started++;
    const bytes = into ?? new Uint8Array(16);
    log.buffers.add(bytes);
    const wait = prng.int(0, 3);
    for (let i = 0; i < wait; i++) await (prng.chance(0.5) ? settle() : Promise.resolve());
    bytes.fill(job & 0xff);
    log.finished++;
    return { job, bytes };
  };
}

describe('readAhead', () => {
  test('results come in job order; a ring buffer is rewritten only after the consumer asked for the result after it', async () => {
    const prng = new Prng(SEED);
    for (let round = 0; round < 30; round++) {
      const depth = prng.int(1, 6);
      const jobs = Array.from({ length: prng.int(0, 40) }, (_, i) => i);
      const log = { started: 0, finished: 0, buffers: new Set<Uint8Array>() };
      const seen: number[] = [];
      for await (const { job, bytes } of readAhead(jobs, slowRead(prng, log), { depth, ringBytes: 16 })) {
        seen.push(job);
        expect(bytes.every((b) => b === (job & 0xff))).toBe(true);
        await settle(); // reads in flight land now: none may be in this buffer
        expect(bytes.every((b) => b === (job & 0xff)), `round ${round}, depth ${depth}, job ${job}`).toBe(true);
        expect(log.started - log.finished).toBeLessThanOrEqual(depth);
      }
      expect(seen).toEqual(jobs);
      expect(log.buffers.size).toBeLessThanOrEqual(depth + 1);
    }
  });

  test('a ring the caller gives is the one used (the export lends one from the checksum kernels\' memory); one too short is refused', async () => {
    const prng = new Prng(SEED ^ 2);
    const ring = Array.from({ length: 4 }, () => new Uint8Array(16));
    const log = { started: 0, finished: 0, buffers: new Set<Uint8Array>() };
    const seen: number[] = [];
    for await (const { job, bytes } of readAhead(Array.from({ length: 20 }, (_, i) => i), slowRead(prng, log), { depth: 3, ring })) {
      expect(ring).toContain(bytes);
      seen.push(job);
    }
    expect(seen).toHaveLength(20);
    expect([...log.buffers].every((b) => ring.includes(b))).toBe(true);
    const short = readAhead([1], slowRead(prng, log), { depth: 4, ring });
    await expect(short.next()).rejects.toThrow(/depth \+ 1 buffers/);
  });

  test('without a ring every result has a buffer of its own, valid for good', async () => {
    const prng = new Prng(SEED ^ 1);
    const log = { started: 0, finished: 0, buffers: new Set<Uint8Array>() };
    const results = [];
    for await (const result of readAhead(Array.from({ length: 50 }, (_, i) => i), slowRead(prng, log), { depth: 4 })) results.push(result);
    expect(log.buffers.size).toBe(50);
    results.forEach(({ job, bytes }) => expect(bytes.every((b) => b === (job & 0xff))).toBe(true));
  });

  test('a failed read is thrown in its turn, after the results before it; no read outlives the generator', async () => {
    const prng = new Prng(SEED ^ 2);
    for (let round = 0; round < 20; round++) {
      const failAt = prng.int(0, 19);
      const log = { started: 0, finished: 0, buffers: new Set<Uint8Array>() };
      const read = slowRead(prng, log);
      const seen: number[] = [];
      const run = async () => {
        for await (const { job } of readAhead(Array.from({ length: 20 }, (_, i) => i), async (job: number, into: Uint8Array | undefined) => {
          if (job === failAt) {
            await settle();
            throw new Error(`read ${job} failed`);
          }
          return read(job, into);
        }, { depth: prng.int(1, 5), ringBytes: 16 })) seen.push(job);
      };
      await expect(run()).rejects.toThrow(`read ${failAt} failed`);
      expect(seen).toEqual(Array.from({ length: failAt }, (_, i) => i));
      expect(log.finished).toBe(log.started);
    }
  });

  test('a consumer that stops early leaves no read running', async () => {
    const prng = new Prng(SEED ^ 3);
    for (let round = 0; round < 20; round++) {
      const log = { started: 0, finished: 0, buffers: new Set<Uint8Array>() };
      const stopAfter = prng.int(0, 10);
      let n = 0;
      for await (const _ of readAhead(Array.from({ length: 30 }, (_, i) => i), slowRead(prng, log), { depth: prng.int(1, 6), ringBytes: 16 })) {
        if (n++ === stopAfter) break;
      }
      expect(log.started).toBeGreaterThan(0);
      expect(log.finished).toBe(log.started);
    }
  });
});

/** Random writes (runs short and long, with small gaps so reads coalesce), discards and checkpoints. */
async function randomHistory(prng: Prng, vol: Volume, model: VolumeModel, checkpoints: number): Promise<string[]> {
  const names: string[] = [];
  const bs = model.blockSize;
  for (let c = 0; c < checkpoints; c++) {
    for (let op = prng.int(1, 5); op > 0; op--) {
      const long = prng.chance(0.3);
      const count = long ? prng.int(1, Math.min(model.blocks, 2 * (4 << 20) / bs + 7)) : prng.int(1, 12);
      const start = prng.int(0, model.blocks - count);
      if (prng.chance(0.15)) {
        await vol.discard(start * bs, count * bs);
        model.discard(start, count);
        continue;
      }
      // A run of short writes a few blocks apart: neighbours for the reads to coalesce.
      const repeats = long ? 1 : prng.int(1, 4);
      for (let r = 0, at = start; r < repeats && at + count <= model.blocks; r++, at += count + prng.int(1, 20)) {
        const data = prng.fill(new Uint8Array(count * bs));
        await vol.write(at * bs, data);
        model.write(at * bs, data);
      }
    }
    const name = `c${c}`;
    await vol.createCheckpoint(name);
    model.createCheckpoint(name);
    names.push(name);
  }
  return names;
}

describe('delta and exportDiff with reads ahead, against the plain model', () => {
  test.each([
    [512, 0, 30000],
    [4096, 0, 3000],
    [4096, 2, 2500],
  ])('blocks of %i B, g=%i: every chunk equals the plain read of its piece and stays so until the next is asked for', async (bs, g, blocks) => {
    const prng = new Prng(SEED ^ (bs * 8 + g));
    const root = mkdtempSync(join(tmpdir(), 'snapcopy-read-ahead-'));
    roots.push(root);
    const dd = await DataDir.open(root, { kernels: backend });
    try {
      const vol = await dd.createVolume('v', { size: blocks * bs, blockSize: bs, granularity: g });
      const model = new VolumeModel(blocks, bs, g);
      const names = await randomHistory(prng, vol, model, 4);
      // Changes after the last checkpoint, so the live volume differs from it.
      await randomHistory(prng, vol, model, 0);
      const data = prng.fill(new Uint8Array(5 * bs));
      await vol.write(0, data);
      model.write(0, data);
      for (let pair = 0; pair < 4; pair++) {
        const i = prng.int(-1, names.length - 1);
        const older = i < 0 ? null : names[i]!;
        const j = prng.int(i + 1, names.length);
        const newer = j === names.length ? undefined : names[j]!;
        const where = `delta(${older}, ${newer ?? 'live'}), seed ${SEED}`;
        const image = model.state(newer).image;
        for (const transient of [true, false]) {
          const chunks = [];
          for await (const chunk of vol.delta(older, newer, { transient })) {
            if (chunk.kind === 'data') {
              const expected = image.subarray(chunk.start * bs, (chunk.start + chunk.count) * bs);
              expect(Buffer.compare(chunk.data!, expected), `${where}: chunk at ${chunk.start}`).toBe(0);
              if (prng.chance(0.3)) {
                await settle();
                expect(Buffer.compare(chunk.data!, expected), `${where}: chunk at ${chunk.start} changed before the next was asked for`).toBe(0);
              }
            }
            chunks.push({ ...chunk, data: transient ? chunk.data?.slice() : chunk.data });
          }
          expect(model.checkDelta(older, newer, chunks), where).toEqual([]);
          // Every piece equals the plain sequential read of it through the volume's own read path
          // (once the delta is done: it holds the volume's lock while it runs).
          for (const c of chunks) {
            if (c.kind !== 'data') continue;
            const plain = await vol.read(c.start * bs, c.count * bs, newer === undefined ? {} : { checkpoint: newer });
            expect(Buffer.compare(c.data!, plain), `${where}: plain read at ${c.start}`).toBe(0);
          }
          // Chunks that own their bytes are still right once all have been read.
          if (!transient) {
            for (const c of chunks) if (c.kind === 'data') expect(Buffer.compare(c.data!, image.subarray(c.start * bs, (c.start + c.count) * bs))).toBe(0);
          }
        }
        // The stream: its records are the same delta.
        const reader = new StreamReader();
        const records = [];
        for await (const piece of vol.exportDiff(older, newer, { transient: true })) {
          for (const event of reader.push(piece)) if (event.type === 'record') records.push(event.record);
        }
        reader.end();
        expect(model.checkDelta(older, newer, records), `${where} (stream)`).toEqual([]);
      }
    } finally {
      await dd.close();
    }
  }, 120_000);

  test('transient exports of several volumes at once, interleaved, give the bytes one export alone gives, and the lent buffers all come back', async () => {
    const prng = new Prng(SEED ^ 0x1e47);
    const root = mkdtempSync(join(tmpdir(), 'snapcopy-read-ahead-'));
    roots.push(root);
    const dd = await DataDir.open(root, { kernels: backend });
    const bs = 4096;
    const blocks = 6000; // long runs make groups of 4 MiB: one export takes five of the six lent buffers
    try {
      const volumes: Volume[] = [];
      for (let v = 0; v < 3; v++) {
        const vol = await dd.createVolume(`v${v}`, { size: blocks * bs, blockSize: bs });
        await randomHistory(prng, vol, new VolumeModel(blocks, bs, 0), 2);
        await vol.write(0, prng.fill(new Uint8Array(1500 * bs)));
        volumes.push(vol);
      }
      const alone = [];
      for (const vol of volumes) alone.push(recordsOf(await collectStream(vol.exportDiff(null, undefined, { transient: true }))));
      // All three at once, a piece from each in turn (so the second and third find the lent buffers taken).
      const runs = volumes.map((vol) => ({ it: vol.exportDiff(null, undefined, { transient: true }), parts: [] as Uint8Array[], done: false }));
      while (runs.some((r) => !r.done)) {
        for (const r of runs) {
          if (r.done) continue;
          const next = await r.it.next();
          if (next.done) r.done = true;
          else r.parts.push(next.value.slice());
        }
      }
      // The same records, data and sums (the stream checks each record's sum as it parses).
      runs.forEach((r, v) => expect(recordsOf(r.parts), `volume v${v}, seed ${SEED}`).toEqual(alone[v]));
      const all = lendChecksumBuffers(6, 4 << 20);
      expect(all, 'every lent buffer was given back').toHaveLength(6);
      returnChecksumBuffers(all!);
    } finally {
      await dd.close();
    }
  }, 120_000);
});

/** A stream's records, their data as hex digests (the stream reader checks each record's sum). */
function recordsOf(parts: Uint8Array[]): Array<{ kind: string; start: number; count: number; data: string }> {
  const reader = new StreamReader();
  const records = [];
  for (const part of parts) {
    for (const event of reader.push(part)) {
      if (event.type !== 'record') continue;
      const { kind, start, count, data } = event.record;
      records.push({ kind, start, count, data: data ? createHash('sha256').update(data).digest('hex') : '' });
    }
  }
  reader.end();
  return records;
}

/** The pieces of a stream, each copied (transient pieces are valid only until the next). */
async function collectStream(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for await (const piece of stream) parts.push(piece.slice());
  return parts;
}
