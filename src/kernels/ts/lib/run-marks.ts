// A union of a few short runs counted by marking them in a page of bits, the pure-TypeScript
// twin of assembly/lib/run-marks.ts (the same choice, on u32 words of the marks page).

import { popcount32 } from './count.js';
import { u16At } from './layout.js';

/** Most u64 words a page's runs may touch to be counted by marking (assembly/lib/run-marks.ts). */
export const MARK_WORDS = 256;

/** Whether the k run lists at u32 index `lists` are better marked (assembly/lib/run-marks.ts). */
export function fewMarkWords(u8: Uint8Array, u32: Uint32Array, lists: number, k: number): boolean {
  let words = 0;
  let count = 0;
  for (let i = 0; i < k; i++) {
    const runs = u32[lists + i]!;
    const n = u16At(u8, runs);
    count += n;
    for (let r = runs + 2, end = runs + 2 + 4 * n; r < end; r += 4) {
      words += ((u16At(u8, r + 2) - 1) >>> 6) - (u16At(u8, r) >>> 6) + 1;
      if (words > MARK_WORDS) return false;
    }
  }
  return words <= 2 * count;
}

/** The set bits of the union of the k run lists at u32 index `lists`, marked at byte `mark` (zero before and after). */
export function markedUnion(u8: Uint8Array, u32: Uint32Array, lists: number, k: number, mark: number): number {
  const words = mark >>> 2;
  let count = 0;
  for (let i = 0; i < k; i++) {
    const runs = u32[lists + i]!;
    for (let r = runs + 2, end = runs + 2 + 4 * u16At(u8, runs); r < end; r += 4) {
      const first = u16At(u8, r);
      const stop = u16At(u8, r + 2);
      for (let w = first >>> 5, last = (stop - 1) >>> 5; w <= last; w++) {
        const lo = w === first >>> 5 ? first & 31 : 0;
        const hi = w === last ? ((stop - 1) & 31) + 1 : 32;
        const bits = (hi - lo === 32 ? 0xffffffff : ((1 << (hi - lo)) - 1) >>> 0) << lo;
        const word = u32[words + w]!;
        count += popcount32(bits & ~word);
        u32[words + w] = word | bits;
      }
    }
  }
  for (let i = 0; i < k; i++) {
    const runs = u32[lists + i]!;
    for (let r = runs + 2, end = runs + 2 + 4 * u16At(u8, runs); r < end; r += 4) {
      for (let w = u16At(u8, r) >>> 5, last = (u16At(u8, r + 2) - 1) >>> 5; w <= last; w++) u32[words + w] = 0;
    }
  }
  return count;
}
