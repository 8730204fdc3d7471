// granularityShrink, the pure-TypeScript twin of assembly/granularity-shrink.ts (same contract).

import { popcountWords } from './lib/count.js';
import type { Heap } from './lib/layout.js';

/** For each byte value: one bit per group of 2^g bits that has any set (g = 1, 2). */
function shrinkTable(g: number): Uint8Array {
  const t = new Uint8Array(256);
  const group = (1 << (1 << g)) - 1;
  for (let v = 0; v < 256; v++) {
    for (let k = 0; k < 8 >>> g; k++) if ((v >>> (k << g)) & group) t[v]! |= 1 << k;
  }
  return t;
}

const SHRINK_G1 = shrinkTable(1);
const SHRINK_G2 = shrinkTable(2);

/** Output bit k = OR of the 2^g input bits from bit k << g. */
function shrinkBits(heap: Heap, src: number, k: number, g: number): number {
  const u8 = heap.u8;
  if (g <= 3) {
    // 8 >> g output bits per input byte; k's byte and bit within the table entry.
    const perByte = 8 >>> g;
    const byte = u8[src + Math.floor(k / perByte)]!;
    if (g === 3) return byte !== 0 ? 1 : 0;
    const packed = g === 1 ? SHRINK_G1[byte]! : SHRINK_G2[byte]!;
    return (packed >>> (k % perByte)) & 1;
  }
  const bytes = 1 << (g - 3);
  for (let i = src + k * bytes, end = i + bytes; i < end; i++) if (u8[i] !== 0) return 1;
  return 0;
}

export function granularityShrink(heap: Heap, src: number, dst: number, dstBytes: number, g: number): number {
  const u8 = heap.u8;
  if (g === 0) {
    u8.copyWithin(dst, src, src + dstBytes);
    return popcountWords(heap, dst, dstBytes >>> 2);
  }
  for (let i = 0; i < dstBytes; i++) {
    let byte = 0;
    for (let b = 0; b < 8; b++) byte |= shrinkBits(heap, src, i * 8 + b, g) << b;
    u8[dst + i] = byte;
  }
  return popcountWords(heap, dst, dstBytes >>> 2);
}
