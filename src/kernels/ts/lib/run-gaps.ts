// Gap lists for counting a union of runs, the pure-TypeScript twin of
// assembly/lib/run-gaps.ts (same layout: run lists of a u16 count and u16 [first, end)
// pairs; gaps as u32 words, first | end << 16).

import { u16At } from './layout.js';

/** Bytes of one gap list (assembly/lib/run-gaps.ts). */
export const GAP_LIST_BYTES = 65536;

/** The gaps of the run list at byte `runs` within [0, size), to u32 index `out`. Returns how many. */
export function gapsOf(u8: Uint8Array, u32: Uint32Array, runs: number, size: number, out: number): number {
  let n = 0;
  let from = 0;
  for (let r = runs + 2, end = runs + 2 + 4 * u16At(u8, runs); r < end; r += 4) {
    const first = u16At(u8, r);
    if (first > from) u32[out + n++] = from | (first << 16);
    from = u16At(u8, r + 2);
  }
  if (size > from) u32[out + n++] = from | (size << 16);
  return n;
}

/** The n gaps at u32 index `gaps` less the run list at byte `runs`, to u32 index `out`. Returns how many. */
export function subtractRuns(u8: Uint8Array, u32: Uint32Array, gaps: number, n: number, runs: number, out: number): number {
  const count = u16At(u8, runs);
  const base = runs + 2; // run r: [u16 at base + 4r, u16 at base + 4r + 2)
  const search = n * 8 < count;
  let left = 0;
  let r = 0;
  for (let g = 0; g < n; g++) {
    const gap = u32[gaps + g]!;
    let from = gap & 0xffff;
    const end = gap >>> 16;
    if (search) {
      let hi = count;
      while (r < hi) {
        const mid = (r + hi) >>> 1;
        if (u16At(u8, base + 4 * mid + 2) <= from) r = mid + 1;
        else hi = mid;
      }
    } else {
      while (r < count && u16At(u8, base + 4 * r + 2) <= from) r++;
    }
    let k = r;
    for (; k < count; k++) {
      const first = u16At(u8, base + 4 * k);
      if (first >= end) break;
      if (first > from) u32[out + left++] = from | (first << 16);
      const stop = u16At(u8, base + 4 * k + 2);
      if (stop >= end) {
        from = end;
        break;
      }
      from = stop;
    }
    if (from < end) u32[out + left++] = from | (end << 16);
    r = k;
  }
  return left;
}

/** Blocks in the n gaps at u32 index `gaps`. */
export function gapBlocks(u32: Uint32Array, gaps: number, n: number): number {
  let blocks = 0;
  for (let g = 0; g < n; g++) {
    const gap = u32[gaps + g]!;
    blocks += (gap >>> 16) - (gap & 0xffff);
  }
  return blocks;
}
