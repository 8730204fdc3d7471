// Server-sent events for the status page: each open stream gets a snapshot at once, then
// one every 2 s, and sooner when something it shows changes (checked every 500 ms).
// Streams are bounded in number (a page left open in many tabs cannot take the node's
// memory) and all end when the node closes.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../node/volume-api.js';

export const MAX_STREAMS = 16;
const CHECK_EVERY_MS = 500;
const SEND_EVERY_MS = 2000;

export interface Source<T> {
  /** A fresh snapshot. */
  take(): Promise<T>;
  /** What of it counts as a change worth sending before the next tick. */
  changeKey(value: T): string;
}

export class EventStreams<T> {
  readonly #streams = new Set<ServerResponse>();
  readonly #source: Source<T>;
  readonly #max: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastKey = '';
  #lastSent = 0;
  #busy = false;
  #closed = false;

  constructor(source: Source<T>, max = MAX_STREAMS) {
    this.#source = source;
    this.#max = max;
  }

  get size(): number {
    return this.#streams.size;
  }

  /** Starts a stream on `response` (503 when the bound is reached or the node is closing). */
  open(request: IncomingMessage, response: ServerResponse): void {
    request.resume();
    if (this.#closed || this.#streams.size >= this.#max) {
      sendJson(response, 503, { code: 'ERR_BUSY', message: `the node already serves ${this.#max} status streams; the page falls back to polling` });
      return;
    }
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.write('retry: 3000\n\n');
    this.#streams.add(response);
    response.on('close', () => {
      this.#streams.delete(response);
      if (this.#streams.size === 0) this.#stop();
    });
    this.#start();
    void this.#push(true);
  }

  /** Ends every stream; no new one is accepted. */
  close(): void {
    this.#closed = true;
    this.#stop();
    for (const response of this.#streams) response.end();
    this.#streams.clear();
  }

  #start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#push(false), CHECK_EVERY_MS);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Sends a snapshot to every stream when forced, due, or changed. */
  async #push(force: boolean): Promise<void> {
    if (this.#busy && !force) return;
    this.#busy = true;
    try {
      const value = await this.#source.take();
      const key = this.#source.changeKey(value);
      const now = Date.now();
      if (!force && key === this.#lastKey && now - this.#lastSent < SEND_EVERY_MS) return;
      this.#lastKey = key;
      this.#lastSent = now;
      const event = `data: ${JSON.stringify(value)}\n\n`;
      for (const response of this.#streams) response.write(event);
    } catch {
      // A snapshot that failed (a volume destroyed while it was read) is retried at the next check.
    } finally {
      this.#busy = false;
    }
  }
}
