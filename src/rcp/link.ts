// A link: one connection carrying frames, with keep-alive and a dead-peer timeout.
// During the handshake frames are taken one at a time with next(); after it, a handler
// receives them as they arrive. An ERROR frame from the peer, a bad frame, or silence
// past the timeout closes the link and reports why.

import { SnapcopyError, type SnapcopyErrorCode } from '../errors.js';
import type { Conn } from './conn.js';
import { FRAME, type Frame, FrameParser, type FrameType, frameName } from './frame.js';
import { errorFrame, errorFromFrame, jsonFrame } from './messages.js';

export interface LinkTimers {
  /** Send a PING after this long without sending anything. */
  keepaliveMs: number;
  /** Close the link after this long without hearing anything (while reading). */
  deadAfterMs: number;
}

export const DEFAULT_TIMERS: LinkTimers = { keepaliveMs: 1000, deadAfterMs: 10_000 };

export interface LinkHandler {
  onFrame(frame: Frame): void;
  onClose(error?: SnapcopyError): void;
}

export class Link {
  readonly conn: Conn;
  readonly parser: FrameParser;
  /** The peer's node name, once the handshake has told it. */
  peer: string;
  #handler: LinkHandler | undefined;
  #queue: Frame[] = [];
  #waiter: { resolve(frame: Frame): void; reject(error: SnapcopyError): void } | undefined;
  #closed: SnapcopyError | null | undefined;
  #lastHeard = Date.now();
  #lastSent = Date.now();
  #paused = false;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(conn: Conn, options: { maxPayload: number; timers: LinkTimers; peer?: string; alloc?: (bytes: number) => Uint8Array }) {
    this.conn = conn;
    this.peer = options.peer ?? conn.remote;
    this.parser = new FrameParser({ maxPayload: options.maxPayload, alloc: options.alloc });
    conn.onData((chunk) => this.#onData(chunk));
    conn.onClose((error) => this.#finish(error ? new SnapcopyError('ERR_UNREACHABLE', `${this.peer}: ${error.message}`) : null));
    const { keepaliveMs, deadAfterMs } = options.timers;
    this.#timer = setInterval(() => this.#tick(keepaliveMs, deadAfterMs), Math.max(10, Math.min(keepaliveMs, deadAfterMs) / 2));
    (this.#timer as { unref?: () => void }).unref?.();
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  send(raw: Uint8Array, written?: () => void): boolean {
    if (this.closed) {
      written?.();
      return false;
    }
    this.#lastSent = Date.now();
    return this.conn.write(raw, written);
  }

  sendJson(type: FrameType, value: unknown): boolean {
    return this.send(jsonFrame(type, value));
  }

  /** The next frame, during the handshake; rejects on close or after `timeoutMs`. */
  next(timeoutMs: number): Promise<Frame> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closed !== undefined) return Promise.reject(this.#closed ?? new SnapcopyError('ERR_CLOSED', `${this.peer} closed the connection`));
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        const error = new SnapcopyError('ERR_TIMEOUT', `${this.peer} did not answer within ${timeoutMs} ms`);
        this.fail(error.code, error.message);
        reject(error);
      }, timeoutMs);
      this.#waiter = {
        resolve: (frame) => { clearTimeout(timer); resolve(frame); },
        reject: (error) => { clearTimeout(timer); reject(error); },
      };
    });
  }

  /** From now on frames go to `handler`, starting with any that arrived early. */
  attach(handler: LinkHandler): void {
    this.#handler = handler;
    for (const frame of this.#queue.splice(0)) handler.onFrame(frame);
    if (this.#closed !== undefined) handler.onClose(this.#closed ?? undefined);
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.conn.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#lastHeard = Date.now();
    this.conn.resume();
  }

  /** Tells the peer why, then closes. */
  fail(code: SnapcopyErrorCode, message: string): void {
    if (this.closed) return;
    this.conn.write(errorFrame(code, message));
    this.#finish(new SnapcopyError(code, message));
    this.conn.end();
  }

  /** Closes after what is queued has been sent. */
  close(): void {
    if (this.closed) return;
    this.#finish(null);
    this.conn.end();
  }

  destroy(error: SnapcopyError): void {
    if (this.closed) return;
    this.#finish(error);
    this.conn.destroy();
  }

  #onData(chunk: Uint8Array): void {
    if (this.closed) return;
    this.#lastHeard = Date.now();
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch (error) {
      const e = error as SnapcopyError;
      this.fail(e.code ?? 'ERR_PROTOCOL', e.message);
      return;
    }
    for (const frame of frames) {
      if (this.closed) return;
      this.#dispatch(frame);
    }
  }

  #dispatch(frame: Frame): void {
    if (frame.type === FRAME.PING) {
      this.send(jsonFrame(FRAME.PONG, {}));
      return;
    }
    if (frame.type === FRAME.PONG) return;
    if (frame.type === FRAME.ERROR) {
      let error: SnapcopyError;
      try {
        error = errorFromFrame(frame, this.peer);
      } catch (bad) {
        error = bad as SnapcopyError;
      }
      this.#finish(error);
      this.conn.end();
      return;
    }
    if (this.#handler) this.#handler.onFrame(frame);
    else if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter.resolve(frame);
    } else if (this.#queue.length < 16) this.#queue.push(frame);
    else this.fail('ERR_PROTOCOL', `${frameName(frame.type)} frames sent before the handshake finished`);
  }

  #tick(keepaliveMs: number, deadAfterMs: number): void {
    if (this.closed) return;
    const now = Date.now();
    if (!this.#paused && now - this.#lastHeard >= deadAfterMs) {
      this.destroy(new SnapcopyError('ERR_TIMEOUT', `${this.peer} was silent for ${now - this.#lastHeard} ms`));
      return;
    }
    if (now - this.#lastSent >= keepaliveMs) this.send(jsonFrame(FRAME.PING, {}));
  }

  #finish(error: SnapcopyError | null): void {
    if (this.#closed !== undefined) return;
    this.#closed = error;
    clearInterval(this.#timer);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error ?? new SnapcopyError('ERR_CLOSED', `${this.peer} closed the connection`));
    this.#handler?.onClose(error ?? undefined);
  }
}
