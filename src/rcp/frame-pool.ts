// Frame buffers, recycled. A 256 KiB frame in freshly allocated memory costs a page fault
// per 4 KiB on first touch, which was most of the sender's time (reading a file into new
// buffers) and much of a receiver's (assembling frames that span socket reads). A buffer
// goes back to the pool only when nothing can still read it: the session has released it
// (every destination acknowledged it, so local delivery is done) and every socket write
// of it has completed.

import { allocUninitialized } from './frame.js';

export class FramePool {
  readonly #free = new Map<number, Uint8Array[]>();
  readonly #owned = new WeakSet<Uint8Array>();
  readonly #writes = new Map<Uint8Array, number>();
  readonly #released = new Set<Uint8Array>();
  readonly #maxFreeBytes: number;
  #freeBytes = 0;

  constructor(maxFreeBytes = 64 * 1024 * 1024) {
    this.#maxFreeBytes = maxFreeBytes;
  }

  /** Bytes held for reuse. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** A buffer of exactly `bytes` bytes, not zeroed. */
  alloc(bytes: number): Uint8Array {
    const list = this.#free.get(bytes);
    const reused = list?.pop();
    if (reused) {
      this.#freeBytes -= bytes;
      return reused;
    }
    const fresh = allocUninitialized(bytes);
    this.#owned.add(fresh);
    return fresh;
  }

  /** A socket write of `raw` has started; returns the callback for when it completes. */
  writing(raw: Uint8Array): (() => void) | undefined {
    if (!this.#owned.has(raw)) return undefined;
    this.#writes.set(raw, (this.#writes.get(raw) ?? 0) + 1);
    return () => this.#written(raw);
  }

  /** The session no longer needs `raw`; it is reused once its writes are done. */
  release(raw: Uint8Array): void {
    if (!this.#owned.has(raw)) return;
    if (this.#writes.has(raw)) this.#released.add(raw);
    else this.#keep(raw);
  }

  #written(raw: Uint8Array): void {
    const count = (this.#writes.get(raw) ?? 1) - 1;
    if (count > 0) {
      this.#writes.set(raw, count);
      return;
    }
    this.#writes.delete(raw);
    if (this.#released.delete(raw)) this.#keep(raw);
  }

  #keep(raw: Uint8Array): void {
    if (this.#freeBytes + raw.byteLength > this.#maxFreeBytes) return;
    let list = this.#free.get(raw.byteLength);
    if (!list) this.#free.set(raw.byteLength, (list = []));
    list.push(raw);
    this.#freeBytes += raw.byteLength;
  }
}
