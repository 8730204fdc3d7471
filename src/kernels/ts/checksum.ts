// checksum, the pure-TypeScript twin of assembly/checksum.ts (same contract): one step
// of the Fletcher checksum over little-endian 32-bit words, a += w, b += a (mod 2^32),
// from state (b << 32) | a; the last word is padded with zero bytes.

import type { Heap } from './lib/layout.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The same step on any bytes: the ts backend runs it on callers' buffers without a copy. */
export function checksumBytes(bytes: Uint8Array, state: bigint): bigint {
  const words = bytes.length >>> 2;
  // Words straight from a Uint32Array view when the bytes are 4-byte aligned (and the
  // platform little-endian, as the format is), else assembled from bytes: two loops, so
  // each stays monomorphic for the JIT.
  const sums = LITTLE_ENDIAN && (bytes.byteOffset & 3) === 0
    ? sumAligned(new Uint32Array(bytes.buffer, bytes.byteOffset, words), Number(state & 0xffffffffn), Number(state >> 32n))
    : sumBytes(bytes, words, Number(state & 0xffffffffn), Number(state >> 32n));
  let a = sums[0]!;
  let b = sums[1]!;
  const rest = bytes.length & 3;
  if (rest !== 0) {
    let w = 0;
    for (let i = 0; i < rest; i++) w |= bytes[(words << 2) + i]! << (i << 3);
    a = (a + (w >>> 0)) >>> 0;
    b = (b + a) >>> 0;
  }
  return (BigInt(b) << 32n) | BigInt(a);
}

function sumAligned(u32: Uint32Array, a: number, b: number): [number, number] {
  for (let i = 0; i < u32.length; i++) {
    a = (a + u32[i]!) >>> 0;
    b = (b + a) >>> 0;
  }
  return [a, b];
}

function sumBytes(bytes: Uint8Array, words: number, a: number, b: number): [number, number] {
  for (let i = 0, at = 0; i < words; i++, at += 4) {
    a = (a + ((bytes[at]! | bytes[at + 1]! << 8 | bytes[at + 2]! << 16 | bytes[at + 3]! << 24) >>> 0)) >>> 0;
    b = (b + a) >>> 0;
  }
  return [a, b];
}

export function checksum(heap: Heap, ptr: number, len: number, state: bigint): bigint {
  return checksumBytes(heap.u8.subarray(ptr, ptr + len), state);
}
