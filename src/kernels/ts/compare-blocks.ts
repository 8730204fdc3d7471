// compareBlocks, the pure-TypeScript twin of assembly/compare-blocks.ts (same contract):
// out[i] = 1 when block i of the regions at a and b differs, else 0; returns how many differ.

import type { Heap } from './lib/layout.js';

/** 1 when n bytes at x and y differ: 32-bit words when both are aligned, else bytes. */
function blockDiffers(heap: Heap, x: number, y: number, n: number): number {
  if (((x | y | n) & 3) === 0) return wordsDiffer(heap.u32, x >>> 2, y >>> 2, n >>> 2);
  return bytesDiffer(heap.u8, x, y, n);
}

// Two loops, so each stays monomorphic for the JIT.
function wordsDiffer(u32: Uint32Array, x: number, y: number, words: number): number {
  for (let i = 0; i < words; i++) if (u32[x + i] !== u32[y + i]) return 1;
  return 0;
}

function bytesDiffer(u8: Uint8Array, x: number, y: number, n: number): number {
  for (let i = 0; i < n; i++) if (u8[x + i] !== u8[y + i]) return 1;
  return 0;
}

export function compareBlocks(heap: Heap, a: number, b: number, blockBytes: number, blocks: number, out: number): number {
  let differ = 0;
  for (let i = 0; i < blocks; i++) {
    const d = blockDiffers(heap, a + i * blockBytes, b + i * blockBytes, blockBytes);
    heap.u8[out + i] = d;
    differ += d;
  }
  return differ;
}
