// Delivery to the application on this node, in order, one frame at a time: the
// application's promise for a frame resolves before the next is handed over, and only
// then is the frame acknowledged. A failing application is reported, not retried.

import { FRAME, FRAME_HEADER_BYTES, type FrameType } from './frame.js';
import { CONTROL_KIND, SEQ_BYTES } from './messages.js';

/**
 * The callbacks an application gives for one inbound session (FIG. 15). A `body` is a view
 * into a frame buffer that is reused once the frame is acknowledged: it is valid until the
 * callback's promise settles; copy what you keep longer.
 */
export interface SessionApp {
  onControl?(body: Uint8Array, seq: number): void | Promise<void>;
  onData?(body: Uint8Array, seq: number): void | Promise<void>;
  /** The sender's last frame; its acknowledgement tells the sender the session is complete here. */
  onEnd?(body: Uint8Array, seq: number): void | Promise<void>;
  /** The session is dropped before its end (given up, or the node stops). */
  onAbort?(reason: string): void | Promise<void>;
}

interface Pending {
  seq: number;
  raw: Uint8Array;
  type: FrameType;
}

export interface DeliveryEvents {
  delivered(seq: number): void;
  failed(error: Error): void;
  /** The backlog fell; the session may read from upstream again. */
  drained(): void;
}

export class LocalDelivery {
  readonly #app: SessionApp;
  readonly #events: DeliveryEvents;
  #queue: Pending[] = [];
  #backlogBytes = 0;
  #running = false;
  #stopped = false;
  #ended = false;

  constructor(app: SessionApp, events: DeliveryEvents) {
    this.#app = app;
    this.#events = events;
  }

  get backlogBytes(): number {
    return this.#backlogBytes;
  }

  enqueue(seq: number, raw: Uint8Array, type: FrameType): void {
    if (this.#stopped) return;
    this.#queue.push({ seq, raw, type });
    this.#backlogBytes += raw.byteLength;
    if (!this.#running) void this.#run();
  }

  stop(reason = 'the session was closed'): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#queue = [];
    this.#backlogBytes = 0;
    if (!this.#ended) void Promise.resolve(this.#app.onAbort?.(reason)).catch(() => undefined);
  }

  async #run(): Promise<void> {
    this.#running = true;
    while (!this.#stopped && this.#queue.length > 0) {
      const next = this.#queue.shift()!;
      try {
        await this.#deliver(next);
      } catch (error) {
        this.#events.failed(error instanceof Error ? error : new Error(String(error)));
        this.stop((error as Error).message);
        break;
      }
      this.#backlogBytes -= next.raw.byteLength;
      this.#events.delivered(next.seq);
      this.#events.drained();
    }
    this.#running = false;
  }

  async #deliver({ seq, raw, type }: Pending): Promise<void> {
    const body = raw.subarray(FRAME_HEADER_BYTES + SEQ_BYTES);
    if (type === FRAME.DATA) {
      await this.#app.onData?.(body, seq);
      return;
    }
    const kind = body[0];
    if (kind === CONTROL_KIND.END) {
      this.#ended = true;
      await this.#app.onEnd?.(body.subarray(1), seq);
    } else {
      await this.#app.onControl?.(body.subarray(1), seq);
    }
  }
}
