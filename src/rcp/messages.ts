// What frames carry. Sequenced frames (CONTROL, DATA) start with the session's sequence
// number and are forwarded byte for byte; link frames (handshake, OPEN, ACK, ROUTES, PING,
// ERROR) carry a small JSON object and are answered hop by hop.

import { SnapcopyError, type SnapcopyErrorCode } from '../errors.js';
import { allocFrame, encodeFrame, FRAME, FRAME_HEADER_BYTES, type Frame, type FrameType, sealFrame } from './frame.js';

export const SEQ_BYTES = 8;

/** A CONTROL frame's body starts with a kind byte: the application's, or the session's end. */
export const CONTROL_KIND = { APP: 0, END: 1 } as const;

/** A frame whose payload is [seq u64][body]; `body` is left for the caller to fill. */
export function allocSequenced(bodyBytes: number, alloc?: (bytes: number) => Uint8Array): { raw: Uint8Array; body: Uint8Array } {
  const raw = alloc ? alloc(FRAME_HEADER_BYTES + SEQ_BYTES + bodyBytes) : allocFrame(SEQ_BYTES + bodyBytes);
  return { raw, body: raw.subarray(FRAME_HEADER_BYTES + SEQ_BYTES) };
}

/** Stamps the sequence number and seals the frame. */
export function sealSequenced(raw: Uint8Array, type: typeof FRAME.CONTROL | typeof FRAME.DATA, seq: number): Uint8Array {
  const view = new DataView(raw.buffer, raw.byteOffset + FRAME_HEADER_BYTES, SEQ_BYTES);
  view.setUint32(0, Math.floor(seq / 2 ** 32));
  view.setUint32(4, seq >>> 0);
  return sealFrame(raw, type);
}

export function isSequenced(type: FrameType): boolean {
  return type === FRAME.CONTROL || type === FRAME.DATA;
}

export function seqOf(frame: Frame): number {
  if (frame.payload.byteLength < SEQ_BYTES) throw new SnapcopyError('ERR_PROTOCOL', 'a sequenced frame is shorter than its sequence number');
  const view = new DataView(frame.payload.buffer, frame.payload.byteOffset, SEQ_BYTES);
  const seq = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
  if (!Number.isSafeInteger(seq) || seq < 1) throw new SnapcopyError('ERR_PROTOCOL', `bad sequence number ${seq}`);
  return seq;
}

export function bodyOf(frame: Frame): Uint8Array {
  return frame.payload.subarray(SEQ_BYTES);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function jsonFrame(type: FrameType, value: unknown): Uint8Array {
  return encodeFrame(type, encoder.encode(JSON.stringify(value)));
}

export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** The JSON object a link frame carries; anything else is a protocol error. */
export function jsonOf(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new SnapcopyError('ERR_PROTOCOL', `${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SnapcopyError('ERR_PROTOCOL', `${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function field<T extends 'string' | 'number' | 'object' | 'boolean'>(
  object: Record<string, unknown>, name: string, kind: T, what: string,
): T extends 'string' ? string : T extends 'number' ? number : T extends 'boolean' ? boolean : Record<string, unknown> {
  const value = object[name];
  const ok = kind === 'object' ? typeof value === 'object' && value !== null && !Array.isArray(value) : typeof value === kind;
  if (!ok || (kind === 'number' && !Number.isSafeInteger(value))) {
    throw new SnapcopyError('ERR_PROTOCOL', `${what}: field ${name} must be ${kind === 'number' ? 'an integer' : `a ${kind}`}`);
  }
  return value as never;
}

/** An ERROR frame: the code a peer can match on, and words for its operator. */
export function errorFrame(code: SnapcopyErrorCode, message: string): Uint8Array {
  return jsonFrame(FRAME.ERROR, { code, message });
}

const KNOWN_CODES = new Set<string>([
  'ERR_PROTOCOL', 'ERR_FRAME_TOO_LARGE', 'ERR_CHECKSUM', 'ERR_VERSION', 'ERR_AUTH', 'ERR_UNKNOWN_GROUP',
  'ERR_UNKNOWN_SESSION', 'ERR_TIMEOUT', 'ERR_UNREACHABLE', 'ERR_SUPERSEDED', 'ERR_INVALID_ARGUMENT', 'ERR_IO', 'ERR_CLOSED',
]);

/** The error a peer sent, as a SnapcopyError raised here. */
export function errorFromFrame(frame: Frame, peer: string): SnapcopyError {
  const object = jsonOf(frame.payload, 'an ERROR frame');
  const code = typeof object.code === 'string' && KNOWN_CODES.has(object.code) ? object.code : 'ERR_PROTOCOL';
  const message = typeof object.message === 'string' ? object.message.slice(0, 500) : 'no message';
  return new SnapcopyError(code as SnapcopyErrorCode, `${peer}: ${message}`);
}
