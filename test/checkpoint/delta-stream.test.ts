// The delta stream format's versions: version 2 (checksum64 sums, written now) and
// version 1 (CRC-32 sums, still read) both round-trip through the reader in chunks of any
// size, a flipped byte anywhere is ERR_CORRUPT in both, and other versions are refused
// with a line that names the version.
//
// Replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/checkpoint/delta-stream.test.ts.

import { beforeAll, describe, expect, test } from 'vitest';
import type { DeltaChunk } from '../../src/checkpoint/delta.js';
import { type DeltaHeader, STREAM_VERSION, type StreamEvent, StreamReader, StreamWriter } from '../../src/checkpoint/delta-stream.js';
import { useChecksumKernels } from '../../src/storage/checksum.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('delta-stream');
const BLOCK = 512;

function sampleStream(prng: Prng, version: 1 | 2): { bytes: Uint8Array; chunks: DeltaChunk[] } {
  const chunks: DeltaChunk[] = [
    { kind: 'data', start: 3, count: 2, data: prng.fill(new Uint8Array(2 * BLOCK)) },
    { kind: 'unused', start: 9, count: 4 },
    { kind: 'data', start: 20, count: 1, data: prng.fill(new Uint8Array(BLOCK)) },
  ];
  const header: DeltaHeader = {
    volume: { name: 'vol', uuid: 'u-1' }, from: { id: 'img-a', name: 'a' }, to: { id: 'img-b', name: 'b' },
    blockSize: BLOCK, blocks: 64, granularity: 0, dataBlocks: 3, unusedBlocks: 4,
  };
  const writer = new StreamWriter({ version });
  const parts = [writer.header(header), ...chunks.flatMap((c) => writer.record(c)), writer.trailer()];
  return { bytes: Buffer.concat(parts), chunks };
}

/** Feeds `bytes` in random-sized pieces; returns the events or throws the reader's error. */
function readAll(bytes: Uint8Array, prng: Prng): StreamEvent[] {
  const reader = new StreamReader();
  const events: StreamEvent[] = [];
  for (let at = 0; at < bytes.length;) {
    const n = prng.int(1, 700);
    events.push(...reader.push(bytes.slice(at, at + n)));
    at += n;
  }
  reader.end();
  return events;
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('delta stream versions', () => {
  beforeAll(() => useChecksumKernels(backend));

  test('the writer writes version 2 by default', () => {
    expect(STREAM_VERSION).toBe(2);
    const { bytes } = sampleStream(new Prng(SEED), 2);
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true)).toBe(2);
    expect(new DataView(new StreamWriter().header(sampleHeader()).buffer).getUint16(8, true)).toBe(2);
  });

  for (const version of [1, 2] as const) {
    test(`version ${version}: read back exactly, and any flipped byte is ERR_CORRUPT`, () => {
      const prng = new Prng(SEED ^ version);
      const { bytes, chunks } = sampleStream(prng, version);
      const records = readAll(bytes, prng).flatMap((e) => (e.type === 'record' ? [e.record] : []));
      expect(records.map((r) => [r.kind, r.start, r.count])).toEqual(chunks.map((c) => [c.kind, c.start, c.count]));
      expect(Buffer.compare(records[0]!.data!, chunks[0]!.data!)).toBe(0);
      expect(Buffer.compare(records[2]!.data!, chunks[2]!.data!)).toBe(0);
      for (let at = 0; at < bytes.length; at += at < 200 || at > bytes.length - 80 ? 1 : 37) {
        const bad = bytes.slice();
        bad[at]! ^= 1 << prng.int(0, 7);
        expect(codeOf(() => readAll(bad, prng)), `byte ${at} of ${bytes.length} flipped (seed ${SEED})`).toBe('ERR_CORRUPT');
      }
    });
  }

  test('a version it does not read is refused with the version in the message', () => {
    const { bytes } = sampleStream(new Prng(SEED), 2);
    for (const version of [0, 3, 0xffff]) {
      const bad = bytes.slice();
      new DataView(bad.buffer).setUint16(8, version, true);
      expect(() => new StreamReader().push(bad)).toThrow(new RegExp(`version ${version} is not supported`));
      expect(codeOf(() => new StreamReader().push(bad))).toBe('ERR_CORRUPT');
    }
    expect(codeOf(() => new StreamWriter({ version: 3 as 2 }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

function sampleHeader(): DeltaHeader {
  return {
    volume: { name: 'v', uuid: 'u' }, from: { id: 'a', name: 'a' }, to: { id: 'b', name: 'b' },
    blockSize: BLOCK, blocks: 1, granularity: 0, dataBlocks: 0, unusedBlocks: 0,
  };
}

/** Records as plain values, to compare two readings. */
function recordsOf(events: StreamEvent[]): unknown[] {
  return events.filter((e) => e.type === 'record').map((e) => {
    const r = (e as Extract<StreamEvent, { type: 'record' }>).record;
    return { kind: r.kind, start: r.start, count: r.count, data: r.data ? Buffer.from(r.data).toString('hex') : undefined };
  });
}

describe('delta stream reader at every byte split (as the frame parser is tested)', () => {
  beforeAll(() => useChecksumKernels(backend));

  test('every split point into two pieces reads the same records, and a cut at any point is ERR_CORRUPT', () => {
    const prng = new Prng(SEED ^ 0x51);
    const { bytes, chunks } = sampleStream(prng, 2);
    const whole = recordsOf(readAll(bytes, new Prng(SEED)));
    expect(whole.length).toBe(chunks.length);
    for (let split = 1; split < bytes.length; split++) {
      const reader = new StreamReader();
      const events = [...reader.push(bytes.slice(0, split)), ...reader.push(bytes.slice(split))];
      reader.end();
      expect(recordsOf(events), `split at ${split}`).toEqual(whole);
      const cut = new StreamReader();
      cut.push(bytes.slice(0, split));
      expect(codeOf(() => cut.end()), `cut at ${split}`).toBe('ERR_CORRUPT');
    }
  });

  test('one byte at a time reads the same records', () => {
    const { bytes } = sampleStream(new Prng(SEED ^ 0x52), 2);
    const reader = new StreamReader();
    const events: StreamEvent[] = [];
    for (let at = 0; at < bytes.length; at++) events.push(...reader.push(bytes.slice(at, at + 1)));
    reader.end();
    expect(recordsOf(events)).toEqual(recordsOf(readAll(bytes, new Prng(SEED))));
  });

  test('pieces in one reused buffer (as RCP frames are) read the same: the reader copies what it keeps', () => {
    const prng = new Prng(SEED ^ 0x53);
    const { bytes } = sampleStream(prng, 2);
    const expected = recordsOf(readAll(bytes, new Prng(SEED)));
    for (const size of [1, 7, 100, 513, 1000]) {
      // A Buffer, as sockets hand over: its slice() is a view, not a copy.
      const reused = Buffer.alloc(size);
      const reader = new StreamReader();
      const events: StreamEvent[] = [];
      for (let at = 0; at < bytes.length; at += size) {
        const n = Math.min(size, bytes.length - at);
        reused.set(bytes.subarray(at, at + n));
        events.push(...reader.push(reused.subarray(0, n))); // records' data must be the reader's own too
        reused.fill(0xee); // the caller reuses its buffer at once
      }
      reader.end();
      expect(recordsOf(events), `pieces of ${size}`).toEqual(expected);
    }
  });
});
