// granularityExpand, the pure-TypeScript twin of assembly/granularity-expand.ts (same contract).

import { popcountWords } from './lib/count.js';
import { expandWord } from './lib/expand-chunk.js';
import type { Heap } from './lib/layout.js';

export function granularityExpand(heap: Heap, src: number, dst: number, dstBytes: number, g: number): number {
  const d = dst >>> 2;
  for (let w = 0; w < dstBytes >>> 2; w++) heap.u32[d + w] = expandWord(heap, src, w, g);
  return popcountWords(heap, src, (dstBytes >>> g) >>> 2) * (1 << g);
}
