// The kernels of another build, for timing before and after a change in the same run:
// `--before=FILE` names a kernels.wasm compiled from an older assembly/ (for example
// `git archive <commit> assembly asconfig.json | tar x -C DIR` and asc there), and this
// wraps it as a Kernels object that an Arena of the current library runs on.

import { readFileSync } from 'node:fs';
import { lib } from './dist.mjs';

const WASM_PAGE = 65536;
const MAX_PAGES = 65536;

export function loadKernelsFile(path) {
  const module = new WebAssembly.Module(readFileSync(path));
  const wasmMemory = new WebAssembly.Memory({ initial: lib.ARENA_BASE / WASM_PAGE, maximum: MAX_PAGES });
  const k = new WebAssembly.Instance(module, { env: { memory: wasmMemory } }).exports;
  const memory = {
    get buffer() {
      return wasmMemory.buffer;
    },
    maxBytes: MAX_PAGES * WASM_PAGE,
    grow(bytes) {
      const have = wasmMemory.buffer.byteLength / WASM_PAGE;
      const want = Math.ceil(bytes / WASM_PAGE);
      if (want <= have) return true;
      if (want > MAX_PAGES) return false;
      try {
        wasmMemory.grow(want - have);
        return true;
      } catch {
        return false;
      }
    },
  };
  const u32 = (name) => (k[name] ? (...a) => k[name](...a) >>> 0 : () => {
    throw new Error(`${path} has no ${name}`);
  });
  return {
    backend: 'wasm',
    memory,
    // For bench modules that read the same arena (bench/lib/read-floor.mjs).
    wasmMemory,
    scanPlain: u32('scanPlain'),
    scanMeta: u32('scanMeta'),
    popcountPlain: u32('popcountPlain'),
    popcountMeta: u32('popcountMeta'),
    orMerge: u32('orMerge'),
    granularityExpand: u32('granularityExpand'),
    granularityShrink: u32('granularityShrink'),
    gatherPages: u32('gatherPages'),
    compareBlocks: u32('compareBlocks'),
    checksum: (ptr, len, state) => BigInt.asUintN(64, k.checksum(ptr, len, state)),
  };
}
