// RCP frames: the unit on the wire after the "RCP/1.0" preamble.
//
//   offset 0  u32  payload length (big-endian), at most the parser's limit
//          4  u8   frame type (FRAME below)
//          5  u8   flags, 0
//          6  u16  reserved, 0
//          8  u32  checksum of bytes 0..8 and then the payload (below)
//         12       payload
//
// The checksum is checksum32 (src/storage/checksum.ts: the SIMD Fletcher checksum folded
// to 32 bits) since protocol version 2. The handshake frames and ERROR keep CRC-32, as in
// version 1: they are small, and a peer of either version can read the other's HELLO and
// ERROR, so a version mismatch ends in a clear ERR_VERSION, not a checksum error.
//
// A frame is kept as one contiguous `raw` buffer so a forwarder can hand the bytes it
// received to its next hops unchanged: the parser returns views into the chunks the
// socket delivered whenever a frame lies inside one chunk, and copies once otherwise.

import { checksum32, crc32 } from '../storage/checksum.js';
import { SnapcopyError } from '../errors.js';

export const FRAME_HEADER_BYTES = 12;

export const FRAME = {
  HELLO: 1,
  CHALLENGE: 2,
  AUTH: 3,
  WELCOME: 4,
  OPEN: 5,
  OPENED: 6,
  CONTROL: 7,
  DATA: 8,
  ACK: 9,
  ROUTES: 10,
  PING: 11,
  PONG: 12,
  ERROR: 13,
} as const;

export type FrameType = (typeof FRAME)[keyof typeof FRAME];

const NAMES = new Map<number, string>(Object.entries(FRAME).map(([name, type]) => [type, name]));

export function frameName(type: number): string {
  return NAMES.get(type) ?? `type ${type}`;
}

export interface Frame {
  type: FrameType;
  /** Header and payload, contiguous: what a forwarder passes on. */
  raw: Uint8Array;
  /** The payload: a view into `raw`. */
  payload: Uint8Array;
}

/** Largest payload a node accepts by default once a session is authenticated. */
export const DEFAULT_MAX_PAYLOAD = 4 * 1024 * 1024;
/** Payload limit before authentication: handshake frames are small. */
export const HANDSHAKE_MAX_PAYLOAD = 4096;
/** No configuration may raise the limit past this. */
export const HARD_MAX_PAYLOAD = 64 * 1024 * 1024;

/** Frames whose checksum stays CRC-32 in every protocol version. */
const CRC32_FRAMES: ReadonlySet<number> = new Set([FRAME.HELLO, FRAME.CHALLENGE, FRAME.AUTH, FRAME.WELCOME, FRAME.ERROR]);

/** The checksum field of a frame (header bytes 0..8 and payload in place). */
export function frameChecksum(raw: Uint8Array): number {
  const head = raw.subarray(0, 8);
  const payload = raw.subarray(FRAME_HEADER_BYTES);
  return CRC32_FRAMES.has(raw[4]!) ? crc32(payload, crc32(head)) : checksum32([head, payload]);
}


/** A frame buffer with `payloadBytes` of room after the header, to be filled then sealed. */
export function allocFrame(payloadBytes: number): Uint8Array {
  // Not zero-filled: the caller writes every payload byte, and sealFrame every header byte.
  return allocUninitialized(FRAME_HEADER_BYTES + payloadBytes);
}

const NodeBuffer = (globalThis as { Buffer?: { allocUnsafeSlow(size: number): Uint8Array } }).Buffer;

export function allocUninitialized(bytes: number): Uint8Array {
  return NodeBuffer ? NodeBuffer.allocUnsafeSlow(bytes) : new Uint8Array(bytes);
}

/** Writes the header (length, type, checksum) of a frame whose payload is in place. */
export function sealFrame(raw: Uint8Array, type: FrameType): Uint8Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  view.setUint32(0, raw.byteLength - FRAME_HEADER_BYTES);
  view.setUint8(4, type);
  view.setUint8(5, 0);
  view.setUint16(6, 0);
  view.setUint32(8, frameChecksum(raw));
  return raw;
}

export function encodeFrame(type: FrameType, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const raw = allocFrame(payload.byteLength);
  raw.set(payload, FRAME_HEADER_BYTES);
  return sealFrame(raw, type);
}

function protocolError(message: string): SnapcopyError {
  return new SnapcopyError('ERR_PROTOCOL', message);
}

/**
 * Turns the chunks a connection delivers into frames. `push` returns every frame that the
 * chunk completes and throws (ERR_FRAME_TOO_LARGE, ERR_CHECKSUM, ERR_PROTOCOL) at the first
 * bad one; after a throw the parser is unusable, as the connection must be closed.
 * It never holds more than one frame's bytes, and a frame's bytes are bounded by the limit.
 */
export class FrameParser {
  #maxPayload: number;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  /** The frame being assembled across chunks, once its header is known. */
  #partial: Uint8Array | undefined;
  #partialFill = 0;
  #failed = false;
  readonly #alloc: (bytes: number) => Uint8Array;

  /** `alloc` provides the buffers for frames that span chunks (a pool's, say). */
  constructor(options: { maxPayload?: number; alloc?: (bytes: number) => Uint8Array } = {}) {
    this.#maxPayload = FrameParser.#checkLimit(options.maxPayload ?? DEFAULT_MAX_PAYLOAD);
    this.#alloc = options.alloc ?? allocUninitialized;
  }

  static #checkLimit(limit: number): number {
    if (!Number.isSafeInteger(limit) || limit < 0 || limit > HARD_MAX_PAYLOAD) {
      throw new SnapcopyError('ERR_INVALID_ARGUMENT', `a frame limit must be 0..${HARD_MAX_PAYLOAD} bytes`);
    }
    return limit;
  }

  /** Changes the payload limit for frames whose header has not been read yet. */
  set maxPayload(limit: number) {
    this.#maxPayload = FrameParser.#checkLimit(limit);
  }

  get maxPayload(): number {
    return this.#maxPayload;
  }

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.#partial ? this.#partialFill : this.#headerFill;
  }

  push(chunk: Uint8Array): Frame[] {
    if (this.#failed) throw protocolError('the frame parser already failed on this connection');
    const frames: Frame[] = [];
    try {
      let at = 0;
      while (at < chunk.byteLength) at = this.#consume(chunk, at, frames);
    } catch (error) {
      this.#failed = true;
      throw error;
    }
    return frames;
  }

  #consume(chunk: Uint8Array, at: number, frames: Frame[]): number {
    if (this.#partial) return this.#fillPartial(chunk, at, frames);
    if (this.#headerFill === 0 && chunk.byteLength - at >= FRAME_HEADER_BYTES) {
      const total = this.#frameBytes(chunk.subarray(at, at + FRAME_HEADER_BYTES));
      if (chunk.byteLength - at >= total) {
        frames.push(this.#finish(chunk.subarray(at, at + total)));
        return at + total;
      }
    }
    const take = Math.min(FRAME_HEADER_BYTES - this.#headerFill, chunk.byteLength - at);
    this.#header.set(chunk.subarray(at, at + take), this.#headerFill);
    this.#headerFill += take;
    if (this.#headerFill === FRAME_HEADER_BYTES) {
      this.#partial = this.#alloc(this.#frameBytes(this.#header));
      this.#partial.set(this.#header);
      this.#partialFill = FRAME_HEADER_BYTES;
      this.#headerFill = 0;
      if (this.#partial.byteLength === FRAME_HEADER_BYTES) return this.#fillPartial(chunk, at + take, frames);
    }
    return at + take;
  }

  #fillPartial(chunk: Uint8Array, at: number, frames: Frame[]): number {
    const partial = this.#partial!;
    const take = Math.min(partial.byteLength - this.#partialFill, chunk.byteLength - at);
    partial.set(chunk.subarray(at, at + take), this.#partialFill);
    this.#partialFill += take;
    if (this.#partialFill === partial.byteLength) {
      this.#partial = undefined;
      this.#partialFill = 0;
      frames.push(this.#finish(partial));
    }
    return at + take;
  }

  /** Validates a header and returns the whole frame's size. */
  #frameBytes(header: Uint8Array): number {
    const view = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES);
    const length = view.getUint32(0);
    const type = view.getUint8(4);
    if (!NAMES.has(type)) throw protocolError(`unknown frame type ${type}`);
    if (view.getUint8(5) !== 0 || view.getUint16(6) !== 0) throw protocolError('frame flags must be 0 in RCP/1.0');
    if (length > this.#maxPayload) {
      throw new SnapcopyError('ERR_FRAME_TOO_LARGE', `a ${frameName(type)} frame of ${length} bytes is over the ${this.#maxPayload}-byte limit`);
    }
    return FRAME_HEADER_BYTES + length;
  }

  #finish(raw: Uint8Array): Frame {
    const view = new DataView(raw.buffer, raw.byteOffset, FRAME_HEADER_BYTES);
    if (view.getUint32(8) !== frameChecksum(raw)) {
      throw new SnapcopyError('ERR_CHECKSUM', `${frameName(view.getUint8(4))} frame checksum mismatch`);
    }
    return { type: view.getUint8(4) as FrameType, raw, payload: raw.subarray(FRAME_HEADER_BYTES) };
  }
}
