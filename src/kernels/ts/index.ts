// The pure-TypeScript backend: the twins of assembly/ on a resizable ArrayBuffer
// whose length-tracking views stay valid as it grows.

import { ARENA_BASE, type KernelMemory, type Kernels } from '../api.js';
import { checksum } from './checksum.js';
import { compareBlocks } from './compare-blocks.js';
import { gatherPages } from './gather-pages.js';
import { granularityExpand } from './granularity-expand.js';
import { granularityShrink } from './granularity-shrink.js';
import type { Heap } from './lib/layout.js';
import { orMerge } from './or-merge.js';
import { popcountMeta } from './popcount-meta.js';
import { popcountPlain } from './popcount-plain.js';
import { popcountRuns } from './popcount-runs.js';
import { scanMeta } from './scan-meta.js';
import { scanPlain } from './scan-plain.js';

const GROW_UNIT = 65536;
const MAX_BYTES = 2 ** 32;

function createMemory(): { memory: KernelMemory; heap: Heap } {
  const buffer = new ArrayBuffer(ARENA_BASE, { maxByteLength: MAX_BYTES });
  const heap = { u8: new Uint8Array(buffer), u32: new Uint32Array(buffer) };
  const memory: KernelMemory = {
    buffer,
    maxBytes: MAX_BYTES,
    grow(bytes: number): boolean {
      if (bytes <= buffer.byteLength) return true;
      const size = Math.ceil(bytes / GROW_UNIT) * GROW_UNIT;
      if (size > MAX_BYTES) return false;
      try {
        buffer.resize(size);
        return true;
      } catch {
        return false;
      }
    },
  };
  return { memory, heap };
}

export function createTsKernels(): Kernels {
  const { memory, heap } = createMemory();
  return {
    backend: 'ts',
    memory,
    scanPlain: (...a) => scanPlain(heap, ...a),
    scanMeta: (...a) => scanMeta(heap, ...a),
    popcountPlain: (...a) => popcountPlain(heap, ...a),
    popcountMeta: (...a) => popcountMeta(heap, ...a),
    popcountRuns: (...a) => popcountRuns(heap, ...a),
    orMerge: (...a) => orMerge(heap, ...a),
    granularityExpand: (...a) => granularityExpand(heap, ...a),
    granularityShrink: (...a) => granularityShrink(heap, ...a),
    gatherPages: (...a) => gatherPages(heap, ...a),
    checksum: (...a) => checksum(heap, ...a),
    compareBlocks: (...a) => compareBlocks(heap, ...a),
  };
}
