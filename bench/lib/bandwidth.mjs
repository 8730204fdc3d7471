// The machine's read bandwidth, measured in the same run as the kernels: Buffer.compare
// of two identical buffers reads both end to end (memcmp) and writes nothing.

import { Buffer } from 'node:buffer';
import { measure } from './timing.mjs';

const MiB = 2 ** 20;

export class CompareBandwidth {
  /** Two identical buffers of `half` bytes each (both really written, so no page is a shared zero page). */
  constructor(half) {
    this.half = half;
    this.a = Buffer.allocUnsafe(half);
    const chunk = new Uint8Array(64 * 1024);
    // crypto.getRandomValues fills at most 64 KiB a call; the pattern repeats after that.
    globalThis.crypto.getRandomValues(chunk);
    for (let o = 0; o < half; o += chunk.length) this.a.set(chunk.subarray(0, Math.min(chunk.length, half - o)), o);
    this.b = Buffer.from(this.a);
    this.cache = new Map();
  }

  /**
   * Buffer.compare over `bytes` bytes in total (both buffers counted): one compare of
   * two bytes/2 prefixes, or, past the buffers' size, whole compares in turn.
   * Returns { bytes, ms, gbps }, cached by byte count.
   */
  async over(bytes, { budgetMs = 200, fresh = false } = {}) {
    bytes = Math.max(2, Math.round(bytes / 2) * 2);
    const hit = this.cache.get(bytes);
    if (hit && !fresh) return hit;
    const half = bytes / 2;
    let fn;
    if (half <= this.half) {
      const x = this.a.subarray(0, half);
      const y = this.b.subarray(0, half);
      fn = () => {
        if (Buffer.compare(x, y) !== 0) throw new Error('buffers differ');
      };
    } else {
      fn = () => {
        for (let left = half; left > 0; left -= this.half) {
          const n = Math.min(left, this.half);
          if (Buffer.compare(this.a.subarray(0, n), this.b.subarray(0, n)) !== 0) throw new Error('buffers differ');
        }
      };
    }
    const m = await measure(fn, { budgetMs, minIterations: 3 });
    const result = { bytes, ms: m.ms, gbps: bytes / (m.ms * 1e6), samples: m.samples };
    this.cache.set(bytes, result);
    return result;
  }

  /** The headline figure: both whole buffers, measured afresh. */
  async whole({ budgetMs = 1500 } = {}) {
    const r = await this.over(2 * this.half, { budgetMs, fresh: true });
    return { ...r, mib: (2 * this.half) / MiB };
  }

  release() {
    this.a = this.b = undefined;
    this.cache.clear();
  }
}
