// The delta stream reader's transient mode (what an import uses): records are views of
// the pushed chunk or of the reader's two reused buffers, valid until the next push. Read
// right after each push, they equal the records of a plain reader, at every split point,
// one byte at a time, in random pieces and in pieces of one reused buffer; a record whole
// within a chunk is not copied, and a plain reader's records are never views of a chunk.
//
// Replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/checkpoint/delta-stream-transient.test.ts.

import { beforeAll, describe, expect, test } from 'vitest';
import type { DeltaChunk } from '../../src/checkpoint/delta.js';
import { type DeltaHeader, type StreamEvent, StreamReader, StreamWriter } from '../../src/checkpoint/delta-stream.js';
import { useChecksumKernels } from '../../src/storage/checksum.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('delta-stream-transient');
const BLOCK = 512;

function sampleStream(prng: Prng, version: 1 | 2): Uint8Array {
  const chunks: DeltaChunk[] = [];
  let next = 0;
  let data = 0;
  let unused = 0;
  for (let i = 0; i < 8; i++) {
    const start = next + prng.int(0, 3);
    const count = prng.int(1, 4);
    if (prng.chance(0.7)) {
      chunks.push({ kind: 'data', start, count, data: prng.fill(new Uint8Array(count * BLOCK)) });
      data += count;
    } else {
      chunks.push({ kind: 'unused', start, count });
      unused += count;
    }
    next = start + count;
  }
  const header: DeltaHeader = {
    volume: { name: 'vol', uuid: 'u-1' }, from: { id: 'img-a', name: 'a' }, to: { id: 'img-b', name: 'b' },
    blockSize: BLOCK, blocks: next + 5, granularity: 0, dataBlocks: data, unusedBlocks: unused,
  };
  const writer = new StreamWriter({ version });
  return Buffer.concat([writer.header(header), ...chunks.flatMap((c) => writer.record(c)), writer.trailer()]);
}

/** Records as plain values, taken at once (a transient record's bytes change later). */
function recordsOf(events: StreamEvent[]): unknown[] {
  return events.filter((e) => e.type === 'record').map((e) => {
    const r = (e as Extract<StreamEvent, { type: 'record' }>).record;
    return { kind: r.kind, start: r.start, count: r.count, data: r.data ? Buffer.from(r.data).toString('hex') : undefined };
  });
}

/** Pushes `pieces` into a transient reader through one reused buffer, reading each push's records before the next. */
function readTransient(bytes: Uint8Array, sizes: Iterable<number>, reuse: boolean): unknown[] {
  const reader = new StreamReader({ transient: true });
  const records: unknown[] = [];
  const shared = new Uint8Array(bytes.length);
  let at = 0;
  for (const size of sizes) {
    const n = Math.min(size, bytes.length - at);
    if (n <= 0) break;
    const chunk = reuse ? shared.subarray(0, n) : new Uint8Array(n);
    chunk.set(bytes.subarray(at, at + n));
    records.push(...recordsOf(reader.push(chunk)));
    chunk.fill(0xee); // the caller reuses its buffer once the records are read
    at += n;
  }
  expect(at).toBe(bytes.length);
  reader.end();
  return records;
}

function plainRecords(bytes: Uint8Array): unknown[] {
  const reader = new StreamReader();
  const events = reader.push(bytes.slice());
  reader.end();
  return recordsOf(events);
}

describe.each([1, 2] as const)('transient delta stream reader, version %i', (version) => {
  beforeAll(() => useChecksumKernels(backend));

  test('every split point into two pieces, one byte at a time, random pieces and a reused buffer read the same records', () => {
    const prng = new Prng(SEED ^ version);
    const bytes = sampleStream(prng, version);
    const expected = plainRecords(bytes);
    expect(expected.length).toBe(8);
    for (let split = 1; split < bytes.length; split++) {
      expect(readTransient(bytes, [split, bytes.length], split % 2 === 0), `seed ${SEED} split at ${split}`).toEqual(expected);
    }
    expect(readTransient(bytes, Array.from({ length: bytes.length }, () => 1), true)).toEqual(expected);
    for (let round = 0; round < 50; round++) {
      const sizes = Array.from({ length: bytes.length }, () => prng.int(1, 3 * BLOCK));
      expect(readTransient(bytes, sizes, prng.chance(0.5)), `seed ${SEED} round ${round}`).toEqual(expected);
    }
  });

  test('a record whole within a chunk is a view of it (transient) and never one (plain)', () => {
    const bytes = sampleStream(new Prng(SEED ^ 0x77 ^ version), version);
    const chunk = bytes.slice();
    const transient = new StreamReader({ transient: true }).push(chunk);
    const plain = new StreamReader().push(chunk);
    const data = (events: StreamEvent[]) => events.flatMap((e) => (e.type === 'record' && e.record.data ? [e.record.data] : []));
    expect(data(transient).length).toBeGreaterThan(0);
    for (const d of data(transient)) expect(d.buffer).toBe(chunk.buffer);
    for (const d of data(plain)) expect(d.buffer).not.toBe(chunk.buffer);
  });

  test('a flipped byte anywhere is ERR_CORRUPT', () => {
    const prng = new Prng(SEED ^ 0x99 ^ version);
    const bytes = sampleStream(prng, version);
    for (let at = 0; at < bytes.length; at += prng.int(1, 40)) {
      const bad = bytes.slice();
      bad[at] ^= 0x10;
      let code: string | undefined;
      try {
        readTransient(bad, Array.from({ length: bad.length }, () => prng.int(1, 900)), true);
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      expect(code, `seed ${SEED} flip at ${at}`).toBe('ERR_CORRUPT');
    }
  });
});
