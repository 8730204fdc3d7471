// Meta bit map granularity (FIG. 45/46): one bit stands for 2^g blocks, g = 0..6.
// expandWord returns 32 bits (32 blocks) of the one-bit-per-block expansion of a
// granular map: output word `word` onward, read from the map at byte offset `src`.

import type { Heap } from './layout.js';

/** Each of `bits` input bits repeated `width` times, as a number (width * bits <= 32). */
function spread(value: number, bits: number, width: number): number {
  let out = 0;
  const ones = width === 32 ? 0xffffffff : (1 << width) - 1;
  for (let i = 0; i < bits; i++) if ((value >>> i) & 1) out |= ones << (i * width);
  return out >>> 0;
}

function table(bits: number, width: number): Uint32Array {
  const t = new Uint32Array(1 << bits);
  for (let v = 0; v < t.length; v++) t[v] = spread(v, bits, width);
  return t;
}

// A byte (g = 1: half a word), a byte (g = 2), a nibble (3), two bits (4), one bit (5, 6).
const SPREAD_G1 = table(8, 2);
const SPREAD_G2 = table(8, 4);
const SPREAD_G3 = table(4, 8);
const SPREAD_G4 = table(2, 16);

/** 32 bits of the expansion of the granular map at byte offset `src`, from output word `word`. */
export function expandWord(heap: Heap, src: number, word: number, g: number): number {
  const u8 = heap.u8;
  switch (g) {
    case 0: return heap.u32[(src >>> 2) + word]!;
    case 1: {
      const at = src + word * 2;
      return (SPREAD_G1[u8[at]!]! | (SPREAD_G1[u8[at + 1]!]! << 16)) >>> 0;
    }
    case 2: return SPREAD_G2[u8[src + word]!]!;
    case 3: return SPREAD_G3[(u8[src + (word >>> 1)]! >>> ((word & 1) << 2)) & 15]!;
    case 4: return SPREAD_G4[(u8[src + (word >>> 2)]! >>> ((word & 3) << 1)) & 3]!;
    case 5: return (u8[src + (word >>> 3)]! >>> (word & 7)) & 1 ? 0xffffffff : 0;
    default: return (u8[src + (word >>> 4)]! >>> ((word >>> 1) & 7)) & 1 ? 0xffffffff : 0;
  }
}
