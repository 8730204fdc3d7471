// The application's end of a session it opened (FIG. 14's RCP pipe): send control blocks
// and data to every destination of a group, with back-pressure from a bounded window, and
// learn when every destination has acknowledged.

import { SnapcopyError } from '../errors.js';
import { FRAME } from './frame.js';
import type { FramePool } from './frame-pool.js';
import { nextTurn } from './turn.js';
import { allocSequenced, CONTROL_KIND, jsonBytes, sealSequenced } from './messages.js';
import type { HopSummary } from './hop.js';
import type { DestinationStatus, Session } from './session.js';

const YIELD_EVERY_BYTES = 2 * 1024 * 1024;

export interface SessionResult {
  id: string;
  group: string;
  /** Frames sent, the end included. */
  frames: number;
  destinations: Record<string, DestinationStatus>;
  /** Per next hop (direct, or standing in for a failed one): its state and what was sent and resent. */
  hops: HopSummary[];
}

export class OriginSession {
  readonly #session: Session;
  readonly #windowBytes: number;
  readonly #pool: FramePool;
  readonly #forget: () => void;
  #ending = false;
  #bytesThisTurn = 0;

  constructor(session: Session, options: { windowBytes: number; pool: FramePool }, forget: () => void) {
    this.#session = session;
    this.#windowBytes = options.windowBytes;
    this.#pool = options.pool;
    this.#forget = forget;
  }

  get id(): string {
    return this.#session.params.id;
  }

  /** Sends a control block (JSON, or bytes as they are); resolves with its frame number once it is in the window. */
  sendControl(value: unknown): Promise<number> {
    const bytes = value instanceof Uint8Array ? value : jsonBytes(value);
    return this.#sendControl(CONTROL_KIND.APP, bytes);
  }

  /** Sends data; the bytes are copied once, into the frame. */
  sendData(bytes: Uint8Array): Promise<number> {
    const frame = this.allocData(bytes.byteLength);
    frame.body.set(bytes);
    return this.sendAllocated(frame);
  }

  /**
   * A data frame with room for `bytes` bytes, not zeroed: fill all of `body` (e.g. read a
   * file into it), then sendAllocated. The buffer is recycled once every destination has it.
   */
  allocData(bytes: number): { raw: Uint8Array; body: Uint8Array } {
    return allocSequenced(bytes, (size) => this.#pool.alloc(size));
  }

  async sendAllocated(frame: { raw: Uint8Array }): Promise<number> {
    this.#checkOpen();
    await this.#room(frame.raw.byteLength);
    return this.#add(frame.raw, FRAME.DATA);
  }

  /** Sends the end, then waits until every destination has it or has been given up. */
  async end(value?: unknown): Promise<SessionResult> {
    await this.#sendControl(CONTROL_KIND.END, value === undefined ? new Uint8Array(0) : jsonBytes(value));
    this.#ending = true;
    const session = this.#session;
    while (!session.done && !session.closed) await session.changed();
    const result: SessionResult = {
      id: this.id,
      group: session.params.group,
      frames: session.have,
      destinations: session.destinations(),
      hops: [...session.hops.values()].map((hop) => hop.summary()),
    };
    this.#forget();
    return result;
  }

  /** Per destination: its standing so far. */
  destinations(): Record<string, DestinationStatus> {
    return this.#session.destinations();
  }

  /** Resolves when every active destination has acknowledged frame `seq`. */
  async acknowledged(seq: number): Promise<void> {
    const session = this.#session;
    while (session.acks.floor() < seq && !session.closed) await session.changed();
  }

  /** Abandons the session without an end. */
  abort(): void {
    this.#forget();
  }

  async #sendControl(kind: number, bytes: Uint8Array): Promise<number> {
    this.#checkOpen();
    const frame = allocSequenced(1 + bytes.byteLength);
    frame.body[0] = kind;
    frame.body.set(bytes, 1);
    await this.#room(frame.raw.byteLength);
    return this.#add(frame.raw, FRAME.CONTROL);
  }

  async #room(bytes: number): Promise<void> {
    const session = this.#session;
    // A sender with room never waits, so let acknowledgements and socket events in now and then.
    this.#bytesThisTurn += bytes;
    if (this.#bytesThisTurn >= YIELD_EVERY_BYTES) {
      this.#bytesThisTurn = 0;
      await nextTurn();
    }
    while (session.retention.bytes > 0 && session.retention.bytes + bytes > this.#windowBytes) {
      if (session.closed) break;
      await session.changed();
    }
    this.#checkOpen();
  }

  #add(raw: Uint8Array, type: typeof FRAME.CONTROL | typeof FRAME.DATA): number {
    const seq = this.#session.have + 1;
    this.#session.addFrame(seq, sealSequenced(raw, type, seq), type);
    return seq;
  }

  #checkOpen(): void {
    if (this.#session.closed || this.#ending) throw new SnapcopyError('ERR_CLOSED', `session ${this.id} is closed`);
  }
}
