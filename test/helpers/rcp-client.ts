// A raw RCP peer over node:net for the node tests: it speaks the wire format byte by byte
// (preamble, 12-byte frames, the handshake, OPEN, sequenced frames) so a test can send
// exactly the bad input it wants and read exactly what the node answers. It plays either
// side: a client dialing a node, or a fake next hop a node dials (serverMode: it first
// reads the "RCP/1.0" preamble line). Also: an HTTP helper for a node's control API, a
// "good client" RCP probe, and in-process nodes on 127.0.0.1:0.
//
// Every wait is bounded; everything connects to 127.0.0.1 only.

import * as http from 'node:http';
import net from 'node:net';
import { SnapcopyError } from '../../src/errors.js';
import { NodeServer } from '../../src/node/server.js';
import { proofOf } from '../../src/rcp/auth.js';
import {
  FRAME, FRAME_HEADER_BYTES, type Frame, FrameParser, type FrameType, HARD_MAX_PAYLOAD, encodeFrame, frameChecksum, frameName,
} from '../../src/rcp/frame.js';
import { PREAMBLE, PROTOCOL_VERSION } from '../../src/rcp/handshake.js';
import { CONTROL_KIND, allocSequenced, jsonBytes, jsonFrame, jsonOf, sealSequenced } from '../../src/rcp/messages.js';
import type { RcpTuning } from '../../src/rcp/service.js';
import { crc32 } from '../../src/storage/checksum.js';
import { removeDir, tempDir } from './net.js';

export const SECRET = 'snapcopy-test-secret-0123456789';
export const WRONG_SECRET = 'not-the-secret-9876543210-abcdef';

// ---------------------------------------------------------------------------------
// Bounded waiting

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

/** Polls `condition` every 10 ms for at most `ms`. */
export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(10);
  }
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: SnapcopyError };

/** The outcome of `promise` without throwing. */
export function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error: error as SnapcopyError }),
  );
}

// ---------------------------------------------------------------------------------
// Frames, well formed and not

const encoder = new TextEncoder();

/** A frame header (valid checksum over the header alone) claiming `length` payload bytes; nothing follows. */
export function headerOnly(type: number, length: number, flags = 0): Uint8Array {
  const raw = new Uint8Array(FRAME_HEADER_BYTES);
  const view = new DataView(raw.buffer);
  view.setUint32(0, length);
  view.setUint8(4, type);
  view.setUint8(5, flags);
  view.setUint16(6, 0);
  view.setUint32(8, frameChecksum(raw));
  return raw;
}

/** A frame built by hand: wrong flags, a wrong checksum or an unknown type are the caller's to ask for. */
export function handFrame(type: number, payload: Uint8Array, options: { flags?: number; crc?: number } = {}): Uint8Array {
  const raw = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  const view = new DataView(raw.buffer);
  view.setUint32(0, payload.byteLength);
  view.setUint8(4, type);
  view.setUint8(5, options.flags ?? 0);
  view.setUint16(6, 0);
  raw.set(payload, FRAME_HEADER_BYTES);
  view.setUint32(8, options.crc ?? frameChecksum(raw));
  return raw;
}

/** A well-formed frame with its checksum flipped. */
export function corruptChecksum(frame: Uint8Array): Uint8Array {
  const copy = frame.slice();
  copy[11] = copy[11]! ^ 0xff;
  return copy;
}

/** A sealed DATA frame. */
export function dataFrame(seq: number, body: Uint8Array): Uint8Array {
  const frame = allocSequenced(body.byteLength);
  frame.body.set(body);
  return sealSequenced(frame.raw, FRAME.DATA, seq);
}

/** A sealed CONTROL frame: an application block (JSON) or the end. */
export function controlFrame(seq: number, value: unknown, kind: number = CONTROL_KIND.APP): Uint8Array {
  const bytes = value === undefined ? new Uint8Array(0) : value instanceof Uint8Array ? value : jsonBytes(value);
  const frame = allocSequenced(1 + bytes.byteLength);
  frame.body[0] = kind;
  frame.body.set(bytes, 1);
  return sealSequenced(frame.raw, FRAME.CONTROL, seq);
}

export function endFrame(seq: number, value?: unknown): Uint8Array {
  return controlFrame(seq, value, CONTROL_KIND.END);
}

let openCounter = 0;

/** The body of an OPEN, as a node's connectHop would send it from `origin`. */
export function openMessage(options: {
  group: string; app: string; origin?: string; id?: string; path?: string[]; meta?: Record<string, unknown>;
  giveUpMs?: number; coverAfterMs?: number;
}): Record<string, unknown> {
  const origin = options.origin ?? 'probe';
  return {
    id: options.id ?? `${origin}-${process.pid}-${Date.now().toString(36)}-${++openCounter}`,
    group: options.group,
    origin,
    app: options.app,
    meta: options.meta ?? {},
    path: options.path ?? [origin],
    giveUpMs: options.giveUpMs ?? 30_000,
    coverAfterMs: options.coverAfterMs ?? 2000,
  };
}

// ---------------------------------------------------------------------------------
// RawPeer

export interface PeerError {
  code: string;
  message: string;
}

/** One end of a TCP connection speaking RCP by hand. */
export class RawPeer {
  readonly socket: net.Socket;
  /** Every frame received (PINGs and PONGs included), in order. */
  readonly received: Frame[] = [];
  /** Bytes received and written. */
  bytesIn = 0;
  bytesOut = 0;
  readonly openedAt = performance.now();
  closedAt: number | undefined;
  /** Resolves when the socket is closed (either side). */
  readonly closed: Promise<void>;
  /** The preamble line the other side sent (server mode). */
  preamble: string | undefined;
  /** Set when the bytes received are not frames. */
  parseError: Error | undefined;
  /** Answer PINGs with PONGs (a peer that should look silent turns this off). */
  answerPings: boolean;
  readonly #parser = new FrameParser({ maxPayload: HARD_MAX_PAYLOAD });
  #queue: Frame[] = [];
  #waiter: (() => void) | undefined;
  #pending: Buffer | undefined;

  private constructor(socket: net.Socket, options: { serverMode?: boolean; answerPings?: boolean }) {
    this.socket = socket;
    this.answerPings = options.answerPings ?? true;
    if (options.serverMode) this.#pending = Buffer.alloc(0);
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.closedAt = performance.now();
      this.#wake();
      resolve();
    }));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  /** Dials 127.0.0.1:port (or "127.0.0.1:port"). */
  static connect(address: string | number, options: { answerPings?: boolean } = {}): Promise<RawPeer> {
    const { host, port } = typeof address === 'number' ? { host: '127.0.0.1', port: address } : splitAddress(address);
    return withTimeout(new Promise<RawPeer>((resolve, reject) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawPeer(socket, options));
      });
      socket.once('error', reject);
    }), 5000, `connecting to ${host}:${port}`);
  }

  /** Wraps an accepted socket of a fake node: the other side starts with the preamble line. */
  static accepted(socket: net.Socket, options: { answerPings?: boolean } = {}): RawPeer {
    return new RawPeer(socket, { ...options, serverMode: true });
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Milliseconds from connecting to the close (undefined while open). */
  get closedAfterMs(): number | undefined {
    return this.closedAt === undefined ? undefined : this.closedAt - this.openedAt;
  }

  write(bytes: Uint8Array | string): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    const data = typeof bytes === 'string' ? encoder.encode(bytes) : bytes;
    this.bytesOut += data.byteLength;
    return this.socket.write(data);
  }

  /** Resolves once what was written so far has been handed to the kernel (or the socket is gone). */
  flushed(): Promise<void> {
    if (this.socket.destroyed || this.socket.writableLength === 0) return Promise.resolve();
    return withTimeout(new Promise<void>((resolve) => {
      this.socket.write(new Uint8Array(0), () => resolve());
      this.socket.once('close', () => resolve());
    }), 10_000, 'flushing a raw peer');
  }

  preambleLine(): boolean {
    return this.write(PREAMBLE);
  }

  send(type: FrameType, value: unknown): boolean {
    return this.write(jsonFrame(type, value));
  }

  /** The next frame other than PING/PONG; rejects on a timeout or when the connection closes first. */
  async next(timeoutMs: number, what = 'a frame'): Promise<Frame> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const frame = this.#queue.shift();
      if (frame) return frame;
      if (this.parseError) throw new Error(`waiting for ${what}: the node sent something that is not a frame: ${this.parseError.message}`);
      if (this.isClosed) throw new Error(`waiting for ${what}: the connection closed (after ${this.received.length} frames)`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#waiter = undefined;
          resolve();
        }, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The next frame, which must be of `type`; its JSON payload. */
  async expect(type: FrameType, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const frame = await this.next(timeoutMs, frameName(type));
    if (frame.type !== type) {
      const detail = frame.type === FRAME.ERROR ? `: ${JSON.stringify(jsonOf(frame.payload, 'ERROR'))}` : '';
      throw new Error(`expected ${frameName(type)}, got ${frameName(frame.type)}${detail}`);
    }
    return jsonOf(frame.payload, frameName(type));
  }

  /** Skips frames until one of `type` comes; its JSON payload. */
  async until(type: FrameType, timeoutMs = 5000, accept: (value: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const frame = await this.next(Math.max(1, deadline - performance.now()), frameName(type));
      if (frame.type === FRAME.ERROR) throw new Error(`waiting for ${frameName(type)}, got ERROR ${JSON.stringify(jsonOf(frame.payload, 'ERROR'))}`);
      if (frame.type === type) {
        const value = jsonOf(frame.payload, frameName(type));
        if (accept(value)) return value;
      }
    }
  }

  /** The next frame, which must be an ERROR; its code and message. */
  async expectError(timeoutMs = 5000): Promise<PeerError> {
    const value = await this.expect(FRAME.ERROR, timeoutMs);
    return { code: String(value.code), message: String(value.message) };
  }

  /** Waits for the close; rejects after `timeoutMs`. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    await withTimeout(this.closed, timeoutMs, 'the node to close the connection');
  }

  /**
   * How the connection ended, within `timeoutMs`: the ERROR frames received (if any),
   * and whether it was closed. Other frames are ignored.
   */
  async fate(timeoutMs = 5000): Promise<{ errors: PeerError[]; closed: boolean; afterMs: number | undefined }> {
    await withTimeout(this.closed, timeoutMs, 'the node to close the connection').catch(() => undefined);
    const errors = this.received
      .filter((frame) => frame.type === FRAME.ERROR)
      .map((frame) => {
        const value = jsonOf(frame.payload, 'ERROR');
        return { code: String(value.code), message: String(value.message) };
      });
    return { errors, closed: this.isClosed, afterMs: this.closedAfterMs };
  }

  /** Stops reading: the kernel buffers fill, then the other side's writes queue up. */
  stopReading(): void {
    this.socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.bytesIn += chunk.byteLength;
    if (this.#pending !== undefined) {
      const seen = Buffer.concat([this.#pending, chunk]);
      const end = seen.indexOf(0x0a);
      if (end < 0) {
        this.#pending = seen;
        if (seen.byteLength > 64) this.parseError = new Error('no preamble line');
        return;
      }
      this.preamble = seen.subarray(0, end + 1).toString('latin1');
      this.#pending = undefined;
      chunk = seen.subarray(end + 1);
      if (chunk.byteLength === 0) return;
    }
    if (this.parseError) return;
    let frames: Frame[];
    try {
      // The parser hands out views into `chunk`; copy, since a test may keep frames for long.
      frames = this.#parser.push(new Uint8Array(chunk));
    } catch (error) {
      this.parseError = error as Error;
      this.#wake();
      return;
    }
    for (const frame of frames) {
      this.received.push(frame);
      if (frame.type === FRAME.PING) {
        if (this.answerPings) this.write(jsonFrame(FRAME.PONG, {}));
        continue;
      }
      if (frame.type === FRAME.PONG) continue;
      this.#queue.push(frame);
    }
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}

function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon);
  if (host !== '127.0.0.1') throw new Error(`tests dial 127.0.0.1 only, not ${address}`);
  return { host, port: Number(address.slice(colon + 1)) };
}

// ---------------------------------------------------------------------------------
// The handshake, by hand

export interface ClientHandshakeResult {
  serverName: string;
  clientNonce: string;
  serverNonce: string;
  /** The CHALLENGE as received. */
  challenge: Record<string, unknown>;
  /** The exact HELLO and AUTH frames sent (for replays). */
  helloFrame: Uint8Array;
  authFrame: Uint8Array;
}

export function randomNonce(): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(16))).toString('hex');
}

/** Sends the preamble and HELLO (exactly `helloFrame` when given, for replays). */
export function sendHello(peer: RawPeer, options: { name?: string; nonce?: string; versions?: unknown; helloFrame?: Uint8Array } = {}): Uint8Array {
  const hello = options.helloFrame ?? jsonFrame(FRAME.HELLO, {
    versions: options.versions ?? [PROTOCOL_VERSION], node: options.name ?? 'probe', nonce: options.nonce ?? randomNonce(),
  });
  peer.preambleLine();
  peer.write(hello);
  return hello;
}

/** The AUTH frame a client named `clientName` sends to prove `secret`. */
export async function authFrame(secret: string, names: { clientName: string; serverName: string; clientNonce: string; serverNonce: string }): Promise<Uint8Array> {
  return jsonFrame(FRAME.AUTH, { proof: await proofOf(secret, { role: 'client', ...names }) });
}

/**
 * The client side: preamble, HELLO, CHALLENGE, AUTH, WELCOME. With a wrong secret the
 * server's proof is not checked here (a raw client may lie); the WELCOME is then not
 * expected, and the caller reads what the node answers.
 */
export async function clientHandshake(peer: RawPeer, options: { name?: string; secret?: string; expectWelcome?: boolean; timeoutMs?: number } = {}): Promise<ClientHandshakeResult> {
  const name = options.name ?? 'probe';
  const secret = options.secret ?? SECRET;
  const timeoutMs = options.timeoutMs ?? 5000;
  const clientNonce = randomNonce();
  const helloFrame = sendHello(peer, { name, nonce: clientNonce });
  const challenge = await peer.expect(FRAME.CHALLENGE, timeoutMs);
  const serverName = String(challenge.node);
  const serverNonce = String(challenge.nonce);
  const names = { clientName: name, serverName, clientNonce, serverNonce };
  if (secret === SECRET) {
    const expected = await proofOf(secret, { role: 'server', ...names });
    if (challenge.proof !== expected) throw new Error(`node ${serverName} sent a wrong proof`);
  }
  const auth = await authFrame(secret, names);
  peer.write(auth);
  if (options.expectWelcome ?? true) await peer.expect(FRAME.WELCOME, timeoutMs);
  return { serverName, clientNonce, serverNonce, challenge, helloFrame, authFrame: auth };
}

/**
 * The server side, for a fake node a real one dials: reads HELLO, answers CHALLENGE
 * (proving `proofSecret`, default the right one), checks AUTH, sends WELCOME. Returns the client's name.
 */
export async function serverHandshake(peer: RawPeer, options: { name: string; secret?: string; proofSecret?: string; version?: unknown; timeoutMs?: number }): Promise<string> {
  const secret = options.secret ?? SECRET;
  const timeoutMs = options.timeoutMs ?? 5000;
  const hello = await peer.expect(FRAME.HELLO, timeoutMs);
  const clientName = String(hello.node);
  const clientNonce = String(hello.nonce);
  const serverNonce = randomNonce();
  const names = { clientName, serverName: options.name, clientNonce, serverNonce };
  peer.send(FRAME.CHALLENGE, {
    version: 'version' in options ? options.version : PROTOCOL_VERSION, node: options.name, nonce: serverNonce,
    proof: await proofOf(options.proofSecret ?? secret, { role: 'server', ...names }),
  });
  const auth = await peer.expect(FRAME.AUTH, timeoutMs);
  if (auth.proof !== (await proofOf(secret, { role: 'client', ...names }))) throw new Error(`${clientName} sent a wrong proof`);
  peer.send(FRAME.WELCOME, {});
  return clientName;
}

// ---------------------------------------------------------------------------------
// A good client: one whole rcptest session sent by hand

export interface ProbeResult {
  /** The file name the node stored under <data>/rcptest. */
  file: string;
  bytes: Uint8Array;
  /** The node's last acknowledgement summary. */
  ack: Record<string, unknown>;
}

/**
 * On an authenticated peer: opens an rcptest session for `group` (which the node must
 * route to itself), sends a small file and waits until the node acknowledges the end.
 */
export async function rcptestSession(peer: RawPeer, options: { nodeName: string; group: string; bytes?: number; timeoutMs?: number }): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  peer.send(FRAME.OPEN, openMessage({ group: options.group, app: 'rcptest' }));
  const opened = await peer.expect(FRAME.OPENED, timeoutMs);
  if (opened.have !== 0) throw new Error(`a new session was OPENED at ${String(opened.have)}`);
  const size = options.bytes ?? 100_000;
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  const file = `probe-${Date.now().toString(36)}-${++openCounter}.bin`;
  peer.write(controlFrame(1, { name: file, size }));
  peer.write(dataFrame(2, bytes));
  peer.write(endFrame(3, { size, crc32: crc32(bytes) }));
  const ack = await peer.until(FRAME.ACK, timeoutMs, (value) => {
    const acks = value.acks as Record<string, number> | undefined;
    const failed = value.failed as Record<string, string> | undefined;
    if (failed && options.nodeName in failed) throw new Error(`the node failed the probe: ${failed[options.nodeName]}`);
    return (acks?.[options.nodeName] ?? 0) >= 3;
  });
  return { file, bytes, ack };
}

/** A good client: dials, authenticates and runs one small rcptest session (see rcptestSession). */
export async function rcpProbe(address: string, options: { nodeName: string; group: string; bytes?: number; timeoutMs?: number }): Promise<ProbeResult> {
  const peer = await RawPeer.connect(address);
  try {
    await clientHandshake(peer, { name: 'probe', timeoutMs: options.timeoutMs });
    return await rcptestSession(peer, options);
  } finally {
    peer.socket.end();
    peer.destroy();
  }
}

// ---------------------------------------------------------------------------------
// HTTP

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: Record<string, unknown> | undefined;
}

/** One request, on a fresh connection unless an `agent` (e.g. a keep-alive one) is given. */
export function httpCall(address: string, options: {
  method?: string; path: string; token?: string; body?: string | Uint8Array; headers?: Record<string, string>; timeoutMs?: number;
  agent?: http.Agent;
}): Promise<HttpAnswer> {
  const { host, port } = splitAddress(address);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return withTimeout(new Promise<HttpAnswer>((resolve, reject) => {
    const request = http.request({
      host, port, method: options.method ?? 'GET', path: options.path, agent: options.agent ?? false,
      headers: {
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...(options.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(options.body)) }),
        ...options.headers,
      },
    }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(options.body);
  }), timeoutMs, `${options.method ?? 'GET'} ${options.path} at ${address}`);
}

/** Writes `text` on a fresh connection and returns everything the node sends until it closes. */
export async function rawExchange(address: string, text: string | Uint8Array, timeoutMs = 5000): Promise<string> {
  const peer = await RawPeer.connect(address);
  const chunks: Buffer[] = [];
  peer.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  peer.write(text);
  await peer.waitClosed(timeoutMs).finally(() => peer.destroy());
  return Buffer.concat(chunks).toString('latin1');
}

// ---------------------------------------------------------------------------------
// In-process nodes

export interface TestNode {
  node: NodeServer;
  dir: string;
  close(): Promise<void>;
}

/** A node on 127.0.0.1:0 in this process, with its own data directory. */
export async function startNode(name: string, options: { tuning?: Partial<RcpTuning>; nodes?: Record<string, string>; secret?: string } = {}): Promise<TestNode> {
  const dir = await tempDir(`snapcopy-${name}-`);
  const node = await NodeServer.start({
    name, listen: '127.0.0.1:0', dataDir: dir,
    peers: { secret: options.secret ?? SECRET, nodes: options.nodes ?? {} },
    tuning: options.tuning,
  });
  let closing: Promise<void> | undefined;
  return {
    node,
    dir,
    close: () => (closing ??= withTimeout(node.close(), 10_000, `closing node ${name}`).finally(() => removeDir(dir))),
  };
}

/** Frame helpers re-exported for the tests. */
export { FRAME, FRAME_HEADER_BYTES, encodeFrame, frameName, jsonFrame };
