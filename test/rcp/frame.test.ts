// RCP frames on the wire: the parser must give back exactly the frames that were sent,
// in order, however the connection cut the byte stream into chunks (tested the way
// pg-protocol tests its parser: every split point, one-byte chunks, random splits);
// hand out views of the chunks it was given when a frame lies inside one of them; stop
// at the first bad header or checksum and stay stopped. Then what frames carry
// (messages.ts): sequence numbers, JSON objects and ERROR frames.
//
// Random parts take their seed from SNAPCOPY_SEED (or a fresh one, printed): replay a
// failure with SNAPCOPY_SEED=<seed> npx vitest run test/rcp/frame.test.ts.

import { describe, expect, test } from 'vitest';
import { SnapcopyError } from '../../src/errors.js';
import {
  DEFAULT_MAX_PAYLOAD, FRAME, FRAME_HEADER_BYTES, type Frame, FrameParser, type FrameType, HANDSHAKE_MAX_PAYLOAD,
  HARD_MAX_PAYLOAD, allocFrame, encodeFrame, frameChecksum, frameName, sealFrame,
} from '../../src/rcp/frame.js';
import {
  SEQ_BYTES, allocSequenced, bodyOf, errorFrame, errorFromFrame, field, isSequenced, jsonBytes, jsonFrame, jsonOf,
  sealSequenced, seqOf,
} from '../../src/rcp/messages.js';
import { checksum32, crc32 } from '../../src/storage/checksum.js';
import { codeOf } from '../helpers/errors.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('rcp-frame');

/** A different but reproducible seed for each test. */
function seedFor(name: string): number {
  let h = SEED;
  for (let i = 0; i < name.length; i++) h = (Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0) & 0x7fffffff;
  return h;
}

const TYPES = Object.values(FRAME) as FrameType[];

/**
 * A copy of the bytes in a buffer of their own. Not `bytes.slice()`: frames may be Node
 * Buffers (allocFrame uses Buffer.allocUnsafeSlow there), and Buffer#slice is a view.
 */
function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

// ---------------------------------------------------------------------------------------
// Streams of frames and the chunks they are delivered in

interface Sent {
  type: FrameType;
  payload: Uint8Array;
  /** What encodeFrame produced. */
  raw: Uint8Array;
  /** Where the frame lies in the stream. */
  start: number;
  end: number;
}

interface Stream {
  bytes: Uint8Array;
  frames: Sent[];
}

/** Frames of the given types and payload sizes, random payloads, back to back. */
function buildStream(rng: Prng, specs: ReadonlyArray<readonly [FrameType, number]>): Stream {
  const frames: Sent[] = [];
  let at = 0;
  for (const [type, size] of specs) {
    const payload = rng.fill(new Uint8Array(size));
    const raw = encodeFrame(type, payload);
    frames.push({ type, payload, raw, start: at, end: at + raw.byteLength });
    at += raw.byteLength;
  }
  const bytes = new Uint8Array(at);
  for (const frame of frames) bytes.set(frame.raw, frame.start);
  return { bytes, frames };
}

/** One chunk the connection delivers: `view` holds stream bytes [from, to). */
interface Chunk {
  view: Uint8Array;
  from: number;
  to: number;
}

/** The stream cut at `cuts` (sorted, duplicates give empty chunks), as views of the stream itself. */
function cutStream(bytes: Uint8Array, cuts: readonly number[]): Chunk[] {
  const chunks: Chunk[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.byteLength]) {
    chunks.push({ view: bytes.subarray(from, cut), from, to: cut });
    from = cut;
  }
  return chunks;
}

/** The chunk's bytes moved into a buffer of their own, between random garbage. */
function detach(rng: Prng, chunk: Chunk): Chunk {
  const before = rng.int(0, 9), after = rng.int(0, 9);
  const room = rng.fill(new Uint8Array(before + chunk.view.byteLength + after));
  room.set(chunk.view, before);
  return { view: room.subarray(before, before + chunk.view.byteLength), from: chunk.from, to: chunk.to };
}

function parseChunks(chunks: readonly Chunk[], parser = new FrameParser()): { frames: Frame[]; buffered: number } {
  const frames: Frame[] = [];
  for (const chunk of chunks) frames.push(...parser.push(chunk.view));
  return { frames, buffered: parser.buffered };
}

/**
 * The first way the parsed frames differ from the sent ones, or undefined. Besides type,
 * payload and raw bytes: the payload is the view of raw after the header, and raw is a
 * view of the chunk a frame lay inside, or else an exact copy in a buffer of its own.
 */
function mismatch(got: readonly Frame[], sent: readonly Sent[], chunks: readonly Chunk[]): string | undefined {
  if (got.length !== sent.length) return `${got.length} frames parsed, ${sent.length} sent`;
  const chunkBuffers = new Set(chunks.map((c) => c.view.buffer));
  for (let i = 0; i < sent.length; i++) {
    const g = got[i]!, s = sent[i]!;
    const at = `frame ${i} (${frameName(s.type)}, ${s.payload.byteLength} bytes at ${s.start})`;
    if (g.type !== s.type) return `${at}: type ${g.type}`;
    if (Buffer.compare(g.payload, s.payload) !== 0) return `${at}: payload differs`;
    if (Buffer.compare(g.raw, s.raw) !== 0) return `${at}: raw differs`;
    if (g.payload.buffer !== g.raw.buffer || g.payload.byteOffset !== g.raw.byteOffset + FRAME_HEADER_BYTES
      || g.payload.byteLength !== g.raw.byteLength - FRAME_HEADER_BYTES) return `${at}: payload is not the view of raw after the header`;
    const home = chunks.find((c) => c.from <= s.start && s.end <= c.to);
    if (home) {
      if (g.raw.buffer !== home.view.buffer || g.raw.byteOffset !== home.view.byteOffset + (s.start - home.from)) {
        return `${at}: lies inside the chunk [${home.from}, ${home.to}) but raw is not a view of it`;
      }
    } else if (chunkBuffers.has(g.raw.buffer) || g.raw.byteOffset !== 0 || g.raw.buffer.byteLength !== g.raw.byteLength) {
      return `${at}: spans chunks but raw is not a copy of its own`;
    }
  }
  return undefined;
}

/** Parses the chunks and checks the frames, and that nothing is left over. */
function expectParsed(stream: Stream, chunks: readonly Chunk[], label: string): void {
  const { frames, buffered } = parseChunks(chunks);
  const problem = mismatch(frames, stream.frames, chunks) ?? (buffered !== 0 ? `${buffered} bytes still buffered` : undefined);
  expect(problem, `${label} (seed ${SEED})`).toBeUndefined();
}

/** Several frame types and the sizes around the edges: empty, 1 byte, the header's 12, a page. */
const MODERATE: ReadonlyArray<readonly [FrameType, number]> = [
  [FRAME.PING, 0], [FRAME.DATA, 1], [FRAME.CONTROL, 11], [FRAME.DATA, 12], [FRAME.ACK, 13], [FRAME.PONG, 0],
  [FRAME.DATA, 4095], [FRAME.DATA, 4096], [FRAME.CONTROL, 4097], [FRAME.ERROR, 3], [FRAME.ROUTES, 0], [FRAME.DATA, 700],
];

/** The same, with a 300 KiB frame in the middle. */
const WITH_LARGE: ReadonlyArray<readonly [FrameType, number]> = [
  ...MODERATE.slice(0, 6), [FRAME.DATA, 300 * 1024], ...MODERATE.slice(6), [FRAME.PING, 0],
];

// ---------------------------------------------------------------------------------------

describe('frame layout', () => {
  test('a frame is [length u32 BE][type][flags 0][reserved 0][checksum32 of bytes 0..8 then the payload][payload]', () => {
    const payload = new Uint8Array([1, 2, 3]);
    const raw = encodeFrame(FRAME.PING, payload);
    expect([...raw.subarray(0, 8)]).toEqual([0, 0, 0, 3, FRAME.PING, 0, 0, 0]);
    const sum = checksum32(new Uint8Array([...raw.subarray(0, 8), ...payload]));
    expect(new DataView(raw.buffer).getUint32(8)).toBe(sum);
    expect(sum).not.toBe(crc32(new Uint8Array([...raw.subarray(0, 8), ...payload])));
    expect([...raw.subarray(FRAME_HEADER_BYTES)]).toEqual([1, 2, 3]);
    // The handshake frames and ERROR keep CRC-32, so peers of any version read each other's HELLO and ERROR.
    for (const type of [FRAME.HELLO, FRAME.CHALLENGE, FRAME.AUTH, FRAME.WELCOME, FRAME.ERROR]) {
      const hello = encodeFrame(type, payload);
      expect(new DataView(hello.buffer).getUint32(8)).toBe(crc32(new Uint8Array([...hello.subarray(0, 8), ...payload])));
    }
    // No payload at all: just the header.
    expect(encodeFrame(FRAME.PONG).byteLength).toBe(FRAME_HEADER_BYTES);
  });

  test('sealFrame writes the header of a frame built in place, also inside a larger buffer', () => {
    const payload = new Uint8Array([9, 8, 7, 6, 5]);
    const big = new Uint8Array(40).fill(0xee);
    const raw = big.subarray(5, 5 + FRAME_HEADER_BYTES + payload.byteLength);
    raw.set(payload, FRAME_HEADER_BYTES);
    expect(sealFrame(raw, FRAME.DATA)).toBe(raw);
    expect(Buffer.compare(raw, encodeFrame(FRAME.DATA, payload))).toBe(0);
    expect(big.subarray(0, 5).every((b) => b === 0xee)).toBe(true);
    expect(big.subarray(5 + raw.byteLength).every((b) => b === 0xee)).toBe(true);
    expect(allocFrame(7).byteLength).toBe(FRAME_HEADER_BYTES + 7);
  });

  test('frameName names the known types and numbers the rest', () => {
    expect(frameName(FRAME.DATA)).toBe('DATA');
    expect(frameName(FRAME.HELLO)).toBe('HELLO');
    expect(frameName(FRAME.ERROR)).toBe('ERROR');
    expect(frameName(0)).toBe('type 0');
    expect(frameName(99)).toBe('type 99');
  });
});

describe('FrameParser: any chunking gives the same frames', () => {
  test('one chunk: every frame is a view of it', () => {
    const stream = buildStream(new Prng(seedFor('one chunk')), WITH_LARGE);
    expectParsed(stream, cutStream(stream.bytes, []), 'one chunk');
  });

  test('two chunks, split at every point of a ~13 KB stream', () => {
    const stream = buildStream(new Prng(seedFor('every split')), MODERATE);
    const n = stream.bytes.byteLength;
    expect(n).toBeGreaterThan(13_000);
    for (let i = 0; i <= n; i++) expectParsed(stream, cutStream(stream.bytes, [i]), `split at ${i} of ${n}`);
  });

  test('two chunks, split at every point within 40 bytes of each frame boundary of a stream with a 300 KiB frame', () => {
    const stream = buildStream(new Prng(seedFor('boundary splits')), WITH_LARGE);
    const n = stream.bytes.byteLength;
    const cuts = new Set<number>();
    for (const frame of stream.frames) {
      for (let d = -40; d <= 40; d++) {
        for (const edge of [frame.start, frame.end]) if (edge + d >= 0 && edge + d <= n) cuts.add(edge + d);
      }
    }
    for (const i of [...cuts].sort((a, b) => a - b)) expectParsed(stream, cutStream(stream.bytes, [i]), `split at ${i} of ${n}`);
  });

  test('one-byte chunks, the 300 KiB frame included', () => {
    const stream = buildStream(new Prng(seedFor('one-byte chunks')), WITH_LARGE);
    const n = stream.bytes.byteLength;
    const parser = new FrameParser();
    const frames: Frame[] = [];
    const chunks: Chunk[] = [];
    for (let i = 0; i < n; i++) {
      const chunk = { view: stream.bytes.subarray(i, i + 1), from: i, to: i + 1 };
      chunks.push(chunk);
      frames.push(...parser.push(chunk.view));
      // Between frames nothing is held; inside one, exactly the bytes received of it.
      const inside = stream.frames.find((f) => f.start <= i && i < f.end)!;
      const expected = i + 1 === inside.end ? 0 : i + 1 - inside.start;
      if (parser.buffered !== expected) expect(parser.buffered, `buffered after byte ${i}`).toBe(expected);
    }
    expect(mismatch(frames, stream.frames, chunks)).toBeUndefined();
  });

  test('random multi-splits, with empty chunks and chunks that live in buffers of their own', () => {
    const rng = new Prng(seedFor('random splits'));
    const stream = buildStream(rng, WITH_LARGE);
    const n = stream.bytes.byteLength;
    for (let round = 0; round < 150; round++) {
      const count = rng.pick([1, 2, 3, 10, 50, 400]);
      const cuts: number[] = [];
      for (let k = 0; k < count; k++) {
        // Half the cuts land near a frame boundary, where the parser changes state.
        const near = rng.pick(stream.frames);
        cuts.push(rng.chance(0.5) ? rng.int(0, n) : Math.max(0, Math.min(n, rng.pick([near.start, near.end]) + rng.int(-13, 13))));
      }
      cuts.sort((a, b) => a - b);
      const chunks = cutStream(stream.bytes, cuts).map((c) => (rng.chance(0.5) ? detach(rng, c) : c));
      expectParsed(stream, chunks, `round ${round}, cuts ${cuts.length <= 20 ? cuts.join(',') : `${cuts.length} of them`}`);
    }
  });

  test('an empty chunk changes nothing, before, between or inside frames', () => {
    const stream = buildStream(new Prng(seedFor('empty chunk')), [[FRAME.DATA, 20], [FRAME.PING, 0]]);
    const parser = new FrameParser();
    expect(parser.push(new Uint8Array(0))).toEqual([]);
    expect(parser.push(stream.bytes.subarray(0, 5))).toEqual([]);
    expect(parser.push(new Uint8Array(0))).toEqual([]);
    expect(parser.buffered).toBe(5);
    expect(parser.push(stream.bytes.subarray(5, 20))).toEqual([]);
    expect(parser.push(new Uint8Array(0))).toEqual([]);
    expect(parser.buffered).toBe(20);
    const frames = parser.push(stream.bytes.subarray(20));
    expect(frames.map((f) => f.type)).toEqual([FRAME.DATA, FRAME.PING]);
    expect(parser.buffered).toBe(0);
  });
});

describe('FrameParser: zero copy', () => {
  test('frames inside a chunk are views of its buffer; a frame across chunks is one exact copy', () => {
    const stream = buildStream(new Prng(seedFor('zero copy')), [[FRAME.DATA, 100], [FRAME.PING, 0], [FRAME.CONTROL, 50], [FRAME.DATA, 10]]);
    const [a, b, c, d] = stream.frames as [Sent, Sent, Sent, Sent];
    // The socket delivered A, B and the first 20 bytes of C; then the rest of C and D,
    // each in a buffer of its own at an offset.
    const first = new Uint8Array(7 + c.start + 20);
    first.set(stream.bytes.subarray(0, c.start + 20), 7);
    const second = new Uint8Array(3 + stream.bytes.byteLength - c.start - 20);
    second.set(stream.bytes.subarray(c.start + 20), 3);
    const parser = new FrameParser();
    const one = parser.push(first.subarray(7));
    const two = parser.push(second.subarray(3));
    expect(one.map((f) => f.type)).toEqual([FRAME.DATA, FRAME.PING]);
    expect(two.map((f) => f.type)).toEqual([FRAME.CONTROL, FRAME.DATA]);
    const [fa, fb] = one as [Frame, Frame];
    const [fc, fd] = two as [Frame, Frame];

    expect(fa.raw.buffer).toBe(first.buffer);
    expect(fa.raw.byteOffset).toBe(7 + a.start);
    expect(fb.raw.buffer).toBe(first.buffer);
    expect(fb.raw.byteOffset).toBe(7 + b.start);
    expect(fb.payload.byteLength).toBe(0);
    expect(fd.raw.buffer).toBe(second.buffer);
    expect(fd.raw.byteOffset).toBe(3 + d.start - c.start - 20);

    // C is whole in a buffer of exactly its size, which neither chunk shares.
    expect(fc.raw.buffer).not.toBe(first.buffer);
    expect(fc.raw.buffer).not.toBe(second.buffer);
    expect(fc.raw.byteOffset).toBe(0);
    expect(fc.raw.buffer.byteLength).toBe(c.raw.byteLength);
    expect(Buffer.compare(fc.raw, c.raw)).toBe(0);

    // So the socket's buffers may be reused once a copied frame is out; views see the change.
    first.fill(0);
    second.fill(0);
    expect(Buffer.compare(fc.raw, c.raw)).toBe(0);
    expect(Buffer.compare(fa.raw, a.raw)).not.toBe(0);
  });
});

describe('FrameParser: limits', () => {
  /** A well-formed header announcing `length` payload bytes (the checksum is not looked at yet). */
  function header(length: number, type: FrameType = FRAME.DATA): Uint8Array {
    const bytes = new Uint8Array(FRAME_HEADER_BYTES);
    new DataView(bytes.buffer).setUint32(0, length);
    bytes[4] = type;
    return bytes;
  }

  test('the limits: 4 MiB by default, 4 KiB during the handshake, never past 64 MiB', () => {
    expect(DEFAULT_MAX_PAYLOAD).toBe(4 * 1024 * 1024);
    expect(HANDSHAKE_MAX_PAYLOAD).toBe(4096);
    expect(HARD_MAX_PAYLOAD).toBe(64 * 1024 * 1024);
    expect(new FrameParser().maxPayload).toBe(DEFAULT_MAX_PAYLOAD);
    expect(new FrameParser({ maxPayload: 0 }).maxPayload).toBe(0);
    expect(new FrameParser({ maxPayload: HARD_MAX_PAYLOAD }).maxPayload).toBe(HARD_MAX_PAYLOAD);
  });

  test('a frame of exactly the limit passes, one byte more is ERR_FRAME_TOO_LARGE', () => {
    const parser = new FrameParser({ maxPayload: HANDSHAKE_MAX_PAYLOAD });
    expect(parser.push(encodeFrame(FRAME.HELLO, new Uint8Array(4096))).length).toBe(1);
    expect(codeOf(() => parser.push(encodeFrame(FRAME.HELLO, new Uint8Array(4097))))).toBe('ERR_FRAME_TOO_LARGE');
    // A limit of 0 takes only empty frames.
    const empty = new FrameParser({ maxPayload: 0 });
    expect(empty.push(encodeFrame(FRAME.PING)).length).toBe(1);
    expect(codeOf(() => empty.push(encodeFrame(FRAME.PING, new Uint8Array(1))))).toBe('ERR_FRAME_TOO_LARGE');
  });

  test('a header over the limit fails as soon as its 12 bytes are in, without waiting for the payload', () => {
    for (const [limit, length] of [[100, 101], [DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_PAYLOAD + 1], [DEFAULT_MAX_PAYLOAD, 0xffffffff], [0, 1]] as const) {
      // The header alone, in one chunk.
      const whole = new FrameParser({ maxPayload: limit });
      expect(codeOf(() => whole.push(header(length))), `${length} > ${limit}`).toBe('ERR_FRAME_TOO_LARGE');
      expect(whole.buffered).toBeLessThanOrEqual(FRAME_HEADER_BYTES);
      // The header cut anywhere: the chunk that completes it throws.
      for (let cut = 1; cut < FRAME_HEADER_BYTES; cut++) {
        const parser = new FrameParser({ maxPayload: limit });
        expect(parser.push(header(length).subarray(0, cut))).toEqual([]);
        expect(parser.buffered).toBe(cut);
        expect(codeOf(() => parser.push(header(length).subarray(cut))), `cut at ${cut}`).toBe('ERR_FRAME_TOO_LARGE');
        expect(parser.buffered).toBeLessThanOrEqual(FRAME_HEADER_BYTES);
      }
      // One byte at a time.
      const slow = new FrameParser({ maxPayload: limit });
      const bytes = header(length);
      for (let i = 0; i < FRAME_HEADER_BYTES - 1; i++) expect(slow.push(bytes.subarray(i, i + 1))).toEqual([]);
      expect(codeOf(() => slow.push(bytes.subarray(FRAME_HEADER_BYTES - 1)))).toBe('ERR_FRAME_TOO_LARGE');
      expect(slow.buffered).toBeLessThanOrEqual(FRAME_HEADER_BYTES);
    }
  });

  test('a header over the limit with some payload behind it in the same chunk fails without buffering it', () => {
    const parser = new FrameParser({ maxPayload: 100 });
    const chunk = new Uint8Array(FRAME_HEADER_BYTES + 60);
    chunk.set(header(1000));
    expect(codeOf(() => parser.push(chunk))).toBe('ERR_FRAME_TOO_LARGE');
    expect(parser.buffered).toBeLessThanOrEqual(FRAME_HEADER_BYTES);
    // And a good frame ahead of it in the same chunk does not change that.
    const after = new FrameParser({ maxPayload: 100 });
    const good = encodeFrame(FRAME.PING, new Uint8Array(5));
    const both = new Uint8Array(good.byteLength + FRAME_HEADER_BYTES + 60);
    both.set(good);
    both.set(header(1000), good.byteLength);
    expect(codeOf(() => after.push(both))).toBe('ERR_FRAME_TOO_LARGE');
    expect(after.buffered).toBeLessThanOrEqual(FRAME_HEADER_BYTES);
  });

  test('a header within the limit but with no payload yet holds the header and waits', () => {
    const parser = new FrameParser({ maxPayload: 1000 });
    expect(parser.push(header(1000))).toEqual([]);
    expect(parser.buffered).toBe(FRAME_HEADER_BYTES);
  });

  test('the maxPayload setter applies to frames whose header has not been read yet', () => {
    const stream = buildStream(new Prng(seedFor('setter')), [[FRAME.DATA, 50], [FRAME.DATA, 50]]);
    const parser = new FrameParser({ maxPayload: 100 });
    // The first frame's header is read under the old limit...
    expect(parser.push(stream.bytes.subarray(0, 30))).toEqual([]);
    parser.maxPayload = 10;
    expect(parser.maxPayload).toBe(10);
    // ...so it still completes; the second is judged by the new one.
    const frames: Frame[] = [];
    expect(codeOf(() => frames.push(...parser.push(stream.bytes.subarray(30, 62))))).toBeUndefined();
    expect(frames.length).toBe(1);
    expect(codeOf(() => parser.push(stream.bytes.subarray(62)))).toBe('ERR_FRAME_TOO_LARGE');
    // Raising it works the same way.
    const raised = new FrameParser({ maxPayload: 10 });
    raised.maxPayload = 50;
    expect(raised.push(stream.bytes).length).toBe(2);
  });

  test('a limit that is negative, past HARD_MAX_PAYLOAD or not an integer is ERR_INVALID_ARGUMENT', () => {
    for (const bad of [-1, HARD_MAX_PAYLOAD + 1, 2 ** 32, 1.5, NaN, Infinity, -Infinity]) {
      expect(codeOf(() => new FrameParser({ maxPayload: bad })), `new, ${bad}`).toBe('ERR_INVALID_ARGUMENT');
      const parser = new FrameParser({ maxPayload: 100 });
      expect(codeOf(() => { parser.maxPayload = bad; }), `setter, ${bad}`).toBe('ERR_INVALID_ARGUMENT');
      // A refused limit leaves the old one, and the parser usable.
      expect(parser.maxPayload).toBe(100);
      expect(parser.push(encodeFrame(FRAME.PING, new Uint8Array(100))).length).toBe(1);
    }
    const parser = new FrameParser();
    parser.maxPayload = HARD_MAX_PAYLOAD;
    expect(parser.maxPayload).toBe(HARD_MAX_PAYLOAD);
    parser.maxPayload = 0;
    expect(parser.maxPayload).toBe(0);
  });
});

describe('FrameParser: bad frames', () => {
  /** A frame with a header byte changed and the checksum made right again, so only the field is wrong. */
  function withHeaderByte(raw: Uint8Array, index: number, value: number): Uint8Array {
    const bad = copyOf(raw);
    bad[index] = value;
    new DataView(bad.buffer).setUint32(8, frameChecksum(bad));
    return bad;
  }

  /** The code the parser fails with, or undefined; anything but a SnapcopyError is returned as text. */
  function failure(fn: () => unknown): string | undefined {
    try {
      fn();
    } catch (e) {
      return e instanceof SnapcopyError ? e.code : `not a SnapcopyError: ${String(e)}`;
    }
    return undefined;
  }

  test('an unknown type is ERR_PROTOCOL even with a right checksum', () => {
    const good = encodeFrame(FRAME.DATA, new Uint8Array([1, 2, 3]));
    for (const type of [0, 14, 100, 255]) {
      expect(codeOf(() => new FrameParser().push(withHeaderByte(good, 4, type))), `type ${type}`).toBe('ERR_PROTOCOL');
      // Cut inside the header, too.
      const parser = new FrameParser();
      parser.push(withHeaderByte(good, 4, type).subarray(0, 6));
      expect(codeOf(() => parser.push(withHeaderByte(good, 4, type).subarray(6)))).toBe('ERR_PROTOCOL');
    }
  });

  test('nonzero flags or reserved bytes are ERR_PROTOCOL even with a right checksum', () => {
    const good = encodeFrame(FRAME.DATA, new Uint8Array([1, 2, 3]));
    for (const index of [5, 6, 7]) {
      for (const value of [1, 0x80, 0xff]) {
        expect(codeOf(() => new FrameParser().push(withHeaderByte(good, index, value))), `byte ${index} = ${value}`).toBe('ERR_PROTOCOL');
      }
    }
  });

  test('after a throw the parser refuses everything with ERR_PROTOCOL, even good frames and empty chunks', () => {
    for (const bad of [
      withHeaderByte(encodeFrame(FRAME.PING), 4, 99), // unknown type
      (() => { const raw = encodeFrame(FRAME.PING, new Uint8Array(3)); raw[13]! ^= 1; return raw; })(), // checksum
      encodeFrame(FRAME.DATA, new Uint8Array(200)), // too large for the limit below
    ]) {
      const parser = new FrameParser({ maxPayload: 100 });
      expect(codeOf(() => parser.push(bad))).not.toBeUndefined();
      expect(codeOf(() => parser.push(encodeFrame(FRAME.PING)))).toBe('ERR_PROTOCOL');
      expect(codeOf(() => parser.push(new Uint8Array(0)))).toBe('ERR_PROTOCOL');
      expect(codeOf(() => parser.push(encodeFrame(FRAME.PING)))).toBe('ERR_PROTOCOL');
    }
  });

  test('a good frame pushed ahead of a bad one in its own chunk is delivered; in the same chunk the throw takes it', () => {
    const good = encodeFrame(FRAME.PING, new Uint8Array(4));
    const bad = encodeFrame(FRAME.PING, new Uint8Array(4));
    bad[FRAME_HEADER_BYTES]! ^= 0x10;
    const separate = new FrameParser();
    expect(separate.push(good).length).toBe(1);
    expect(codeOf(() => separate.push(bad))).toBe('ERR_CHECKSUM');
    const together = new FrameParser();
    const both = new Uint8Array(good.byteLength + bad.byteLength);
    both.set(good);
    both.set(bad, good.byteLength);
    // push() returns all or throws: the connection is closed on any bad frame anyway.
    expect(codeOf(() => together.push(both))).toBe('ERR_CHECKSUM');
  });

  /**
   * Flipping one byte of a frame. With a payload of 300 bytes (length 0x0000012C) and a
   * 4096-byte limit, by field:
   *   byte 0, 1    the length becomes ≥ 2^16: ERR_FRAME_TOO_LARGE, from the header alone;
   *   byte 2       length (b << 8) | 0x2C: b = 0 → 44 bytes, a checksum failure at once;
   *                b = 2..15 → 556..3884 bytes, within the limit, so the parser waits and
   *                fails with ERR_CHECKSUM once that many bytes are in; b ≥ 16 → too large;
   *   byte 3       256..511 bytes: ERR_CHECKSUM, at once when shorter, later when longer;
   *   byte 4       the type: ERR_CHECKSUM when it is another known type (it is checksummed),
   *                ERR_PROTOCOL when unknown;
   *   bytes 5..7   ERR_PROTOCOL (flags, reserved);
   *   bytes 8..11  ERR_CHECKSUM (the checksum itself);
   *   payload      ERR_CHECKSUM, always: CRC-32 catches every error burst of up to 32 bits.
   */
  function expectedFailure(index: number, bad: Uint8Array, payloadBytes: number, limit: number): { code: string; later: boolean } {
    const view = new DataView(bad.buffer, bad.byteOffset);
    if (index <= 3) {
      const length = view.getUint32(0);
      if (length > limit) return { code: 'ERR_FRAME_TOO_LARGE', later: false };
      return { code: 'ERR_CHECKSUM', later: length > payloadBytes };
    }
    if (index === 4) return { code: TYPES.includes(bad[4] as FrameType) ? 'ERR_CHECKSUM' : 'ERR_PROTOCOL', later: false };
    if (index <= 7) return { code: 'ERR_PROTOCOL', later: false };
    return { code: 'ERR_CHECKSUM', later: false };
  }

  test('every single-byte change of a frame (every value in the header), whole or cut: exactly the expected failure', () => {
    const rng = new Prng(seedFor('flips'));
    const limit = 4096, payloadBytes = 300;
    const frame = encodeFrame(FRAME.DATA, rng.fill(new Uint8Array(payloadBytes)));
    const follower = encodeFrame(FRAME.PING, rng.fill(new Uint8Array(20)));
    const filler = new Uint8Array(limit + FRAME_HEADER_BYTES);
    const problems: string[] = [];
    const seen = new Map<string, Set<string>>();
    for (let index = 0; index < frame.byteLength; index++) {
      const region = index <= 3 ? 'length' : index === 4 ? 'type' : index <= 7 ? 'flags' : index <= 11 ? 'checksum' : 'payload';
      // Every value in the header; single bits, all bits and a random byte in the payload.
      const flips = index < FRAME_HEADER_BYTES
        ? Array.from({ length: 255 }, (_, k) => k + 1)
        : [1, 2, 4, 8, 16, 32, 64, 128, 255, rng.int(1, 255)];
      for (const flip of flips) {
        const bad = copyOf(frame);
        bad[index]! ^= flip;
        const { code, later } = expectedFailure(index, bad, payloadBytes, limit);
        if (!seen.has(region)) seen.set(region, new Set());
        seen.get(region)!.add(later ? `${code} later` : code);
        // Whole, then cut at a random point: the first part never fails, as the change is
        // either in the part not sent yet or the frame is not complete.
        const cut = rng.int(0, bad.byteLength);
        for (const chunks of [[bad], [bad.subarray(0, cut), bad.subarray(cut)]]) {
          const parser = new FrameParser({ maxPayload: limit });
          let got = failure(() => chunks.forEach((chunk) => parser.push(chunk)));
          const failedAtOnce = got !== undefined;
          if (got === undefined) got = failure(() => { parser.push(follower); parser.push(filler); });
          const what = `byte ${index} ^ 0x${flip.toString(16)}, ${chunks.length} chunk(s)`;
          if (got !== code) problems.push(`${what}: ${got ?? 'no error'}, expected ${code}`);
          else if (failedAtOnce === later) problems.push(`${what}: ${code} ${failedAtOnce ? 'at once' : 'later'}, expected ${later ? 'later' : 'at once'}`);
          else if (failure(() => parser.push(encodeFrame(FRAME.PING))) !== 'ERR_PROTOCOL') problems.push(`${what}: usable after ${code}`);
        }
      }
    }
    expect(problems.slice(0, 20), `seed ${SEED}`).toEqual([]);
    // Each field fails in exactly the ways the comment above says.
    expect(Object.fromEntries([...seen].map(([region, codes]) => [region, [...codes].sort()]))).toEqual({
      length: ['ERR_CHECKSUM', 'ERR_CHECKSUM later', 'ERR_FRAME_TOO_LARGE'],
      type: ['ERR_CHECKSUM', 'ERR_PROTOCOL'],
      flags: ['ERR_PROTOCOL'],
      checksum: ['ERR_CHECKSUM'],
      payload: ['ERR_CHECKSUM'],
    });
  });

  test('single-byte changes anywhere in a random stream, parsed in random chunks, fail with the expected code', () => {
    const rng = new Prng(seedFor('stream flips'));
    const stream = buildStream(rng, MODERATE);
    for (let round = 0; round < 300; round++) {
      const target = rng.pick(stream.frames);
      const index = rng.int(0, target.raw.byteLength - 1);
      const bad = copyOf(stream.bytes);
      bad[target.start + index]! ^= rng.int(1, 255);
      // The frames before the bad one come out; the stream then fails.
      const parser = new FrameParser({ maxPayload: 4097 });
      const frames: Frame[] = [];
      const cuts = Array.from({ length: rng.int(0, 8) }, () => rng.int(0, bad.byteLength)).sort((a, b) => a - b);
      const code = failure(() => { for (const chunk of cutStream(bad, cuts)) frames.push(...parser.push(chunk.view)); });
      const header = bad.subarray(target.start, target.start + FRAME_HEADER_BYTES);
      const length = new DataView(header.buffer, header.byteOffset).getUint32(0);
      const label = `round ${round}: frame at ${target.start}, byte ${index} (seed ${SEED})`;
      if (index >= 5 && index <= 7) expect(code, label).toBe('ERR_PROTOCOL');
      else if (index === 4) expect(code, label).toBe(TYPES.includes(header[4] as FrameType) ? 'ERR_CHECKSUM' : 'ERR_PROTOCOL');
      else if (index <= 3 && length > 4097) expect(code, label).toBe('ERR_FRAME_TOO_LARGE');
      else if (index <= 3 && length > target.payload.byteLength && target.start + FRAME_HEADER_BYTES + length > bad.byteLength) {
        // A longer length near the end of the stream: the parser is still waiting for the bytes.
        expect(code, label).toBeUndefined();
        expect(parser.buffered, label).toBe(bad.byteLength - target.start);
      } else expect(code, label).toBe('ERR_CHECKSUM');
      // Nothing from the bad frame on was handed out, and what was is right (a throw in a
      // push loses that push's earlier frames, so fewer may come out).
      const before = stream.frames.indexOf(target);
      expect(frames.length, label).toBeLessThanOrEqual(before);
      for (let i = 0; i < frames.length; i++) expect(Buffer.compare(frames[i]!.raw, stream.frames[i]!.raw), label).toBe(0);
    }
  });
});

describe('sequenced frames (messages.ts)', () => {
  test('allocSequenced / sealSequenced / seqOf / bodyOf round trip, sequence numbers past 2^32 included', () => {
    const rng = new Prng(seedFor('sequenced'));
    const seqs = [1, 2, 255, 256, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 12345, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER];
    const sent: Array<{ seq: number; type: typeof FRAME.CONTROL | typeof FRAME.DATA; body: Uint8Array; raw: Uint8Array }> = [];
    for (const seq of seqs) {
      const body = rng.fill(new Uint8Array(rng.pick([0, 1, 7, 8, 100])));
      const { raw, body: room } = allocSequenced(body.byteLength);
      expect(raw.byteLength).toBe(FRAME_HEADER_BYTES + SEQ_BYTES + body.byteLength);
      expect(room.buffer).toBe(raw.buffer);
      expect(room.byteOffset).toBe(raw.byteOffset + FRAME_HEADER_BYTES + SEQ_BYTES);
      room.set(body);
      const type = rng.chance(0.5) ? FRAME.DATA : FRAME.CONTROL;
      expect(sealSequenced(raw, type, seq)).toBe(raw);
      sent.push({ seq, type, body, raw });
    }
    // The sequence number is a big-endian u64 at the start of the payload.
    const at2to40 = sent.find((s) => s.seq === 2 ** 40 + 12345)!.raw;
    expect([...at2to40.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + SEQ_BYTES)]).toEqual([0, 0, 1, 0, 0, 0, 0x30, 0x39]);
    // Parsed as one stream, so every payload is a view at an offset into a larger buffer.
    const stream = new Uint8Array(sent.reduce((n, s) => n + s.raw.byteLength, 0));
    let at = 0;
    for (const s of sent) { stream.set(s.raw, at); at += s.raw.byteLength; }
    const frames = new FrameParser().push(stream);
    expect(frames.length).toBe(sent.length);
    frames.forEach((frame, i) => {
      const s = sent[i]!;
      expect(frame.type).toBe(s.type);
      expect(isSequenced(frame.type)).toBe(true);
      expect(seqOf(frame)).toBe(s.seq);
      expect(Buffer.compare(bodyOf(frame), s.body)).toBe(0);
    });
  });

  test('isSequenced: CONTROL and DATA only', () => {
    expect(TYPES.filter(isSequenced).sort()).toEqual([FRAME.CONTROL, FRAME.DATA].sort());
  });

  /** A parsed frame of `type` with exactly this payload. */
  function frameOf(type: FrameType, payload: Uint8Array): Frame {
    const [frame] = new FrameParser().push(encodeFrame(type, payload));
    return frame!;
  }

  test('seqOf rejects sequence number 0, one past 2^53 - 1, and payloads shorter than 8 bytes: ERR_PROTOCOL', () => {
    const { raw } = allocSequenced(4);
    sealSequenced(raw, FRAME.DATA, 0);
    expect(codeOf(() => seqOf(new FrameParser().push(raw)[0]!))).toBe('ERR_PROTOCOL');
    for (const bytes of [0, 1, 7]) {
      expect(codeOf(() => seqOf(frameOf(FRAME.DATA, new Uint8Array(bytes)))), `${bytes} bytes`).toBe('ERR_PROTOCOL');
    }
    // Exactly 8 bytes is a sequence number with an empty body.
    const eight = frameOf(FRAME.CONTROL, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 9]));
    expect(seqOf(eight)).toBe(9);
    expect(bodyOf(eight).byteLength).toBe(0);
    // High words of 2^21 and up give numbers past Number.MAX_SAFE_INTEGER.
    expect(seqOf(frameOf(FRAME.DATA, new Uint8Array([0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])))).toBe(Number.MAX_SAFE_INTEGER);
    expect(codeOf(() => seqOf(frameOf(FRAME.DATA, new Uint8Array([0, 0x20, 0, 0, 0, 0, 0, 0]))))).toBe('ERR_PROTOCOL');
    expect(codeOf(() => seqOf(frameOf(FRAME.DATA, new Uint8Array(8).fill(0xff))))).toBe('ERR_PROTOCOL');
  });
});

describe('JSON link frames (messages.ts)', () => {
  const utf8 = (text: string) => new TextEncoder().encode(text);

  test('jsonFrame / jsonBytes / jsonOf round trip an object', () => {
    const value = { node: 'b', port: 4000, nested: { ok: true }, text: 'grüße ✓' };
    const [frame] = new FrameParser().push(jsonFrame(FRAME.HELLO, value));
    expect(frame!.type).toBe(FRAME.HELLO);
    expect(jsonOf(frame!.payload, 'a HELLO frame')).toEqual(value);
    expect(jsonOf(jsonBytes(value), 'bytes')).toEqual(value);
  });

  test('jsonOf: not JSON, not an object, or not UTF-8 is ERR_PROTOCOL', () => {
    for (const text of ['', 'abc', '{', '{"a":1', "{'a':1}", 'undefined']) {
      expect(codeOf(() => jsonOf(utf8(text), 'x')), JSON.stringify(text)).toBe('ERR_PROTOCOL');
    }
    for (const text of ['[]', '[{"a":1}]', 'null', '1', '"text"', 'true']) {
      expect(codeOf(() => jsonOf(utf8(text), 'x')), text).toBe('ERR_PROTOCOL');
    }
    // Invalid UTF-8 inside a JSON string is refused, not replaced by U+FFFD.
    const invalid = [
      [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d], // {"a":"\xff"}
      [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d], // a truncated 2-byte sequence
      [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d], // an encoded surrogate
      [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d], // an overlong '/'
    ];
    for (const bytes of invalid) expect(codeOf(() => jsonOf(new Uint8Array(bytes), 'x')), bytes.join(',')).toBe('ERR_PROTOCOL');
    expect(jsonOf(utf8('{"a":"é"}'), 'x')).toEqual({ a: 'é' });
  });

  test('field: the type asked for, numbers being safe integers; else ERR_PROTOCOL', () => {
    const object = { s: 'x', n: 3, f: 1.5, big: 2 ** 53, o: { a: 1 }, arr: [1], nul: null, b: false };
    expect(field(object, 's', 'string', 'w')).toBe('x');
    expect(field(object, 'n', 'number', 'w')).toBe(3);
    expect(field(object, 'o', 'object', 'w')).toEqual({ a: 1 });
    expect(field(object, 'b', 'boolean', 'w')).toBe(false);
    for (const [name, kind] of [['f', 'number'], ['big', 'number'], ['s', 'number'], ['arr', 'object'], ['nul', 'object'], ['missing', 'string'], ['n', 'string']] as const) {
      expect(codeOf(() => field(object, name, kind, 'w')), `${name} as ${kind}`).toBe('ERR_PROTOCOL');
    }
  });

  test('errorFromFrame keeps the codes a peer may send and makes any other ERR_PROTOCOL', () => {
    const known = [
      'ERR_PROTOCOL', 'ERR_FRAME_TOO_LARGE', 'ERR_CHECKSUM', 'ERR_VERSION', 'ERR_AUTH', 'ERR_UNKNOWN_GROUP',
      'ERR_UNKNOWN_SESSION', 'ERR_TIMEOUT', 'ERR_UNREACHABLE', 'ERR_SUPERSEDED', 'ERR_INVALID_ARGUMENT', 'ERR_IO', 'ERR_CLOSED',
    ] as const;
    for (const code of known) {
      const [frame] = new FrameParser().push(errorFrame(code, 'went wrong'));
      expect(frame!.type).toBe(FRAME.ERROR);
      const error = errorFromFrame(frame!, 'node-b');
      expect(error).toBeInstanceOf(SnapcopyError);
      expect(error.code).toBe(code);
      expect(error.message).toBe('node-b: went wrong');
    }
    const received = (value: unknown) => errorFromFrame(new FrameParser().push(jsonFrame(FRAME.ERROR, value))[0]!, 'peer');
    // Codes of this library a peer has no business sending, made-up ones, and non-strings.
    for (const code of ['ERR_OUT_OF_RANGE', 'ERR_CORRUPT', 'ERR_NOPE', 'err_auth', '', '__proto__', 'toString', 42, null, ['ERR_AUTH']]) {
      expect(received({ code, message: 'm' }).code, String(code)).toBe('ERR_PROTOCOL');
    }
    expect(received({}).code).toBe('ERR_PROTOCOL');
    expect(received({}).message).toBe('peer: no message');
    expect(received({ code: 'ERR_AUTH', message: 7 }).message).toBe('peer: no message');
    // A long message is cut to 500 characters.
    expect(received({ code: 'ERR_IO', message: 'x'.repeat(2000) }).message).toBe(`peer: ${'x'.repeat(500)}`);
  });

  test('an ERROR frame that is not a JSON object makes errorFromFrame throw ERR_PROTOCOL', () => {
    for (const payload of [utf8('oops'), utf8('[1]'), new Uint8Array([0xff])]) {
      const [frame] = new FrameParser().push(encodeFrame(FRAME.ERROR, payload));
      expect(codeOf(() => errorFromFrame(frame!, 'peer'))).toBe('ERR_PROTOCOL');
    }
  });
});
