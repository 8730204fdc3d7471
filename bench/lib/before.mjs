// The kernels of another build, for timing before and after a change in the same run:
// `--before=FILE` names a kernels.wasm compiled from an older assembly/ (for example
// `git archive <commit> assembly asconfig.json | tar x -C DIR` and asc there), and this
// wraps it as a Kernels object that an Arena of the current library runs on.

import { readFileSync } from 'node:fs';
import { distModule, lib } from './dist.mjs';

const { kernelModule } = await distModule('kernels/wasm/instantiate.js');

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
  // A kernel an older build lacks, the library of this one still calls (popcountRuns,
  // from 2026-12-01): this build's, on the same memory, so only the kernels that build
  // has are timed as its own.
  let current;
  const u32 = (name) => {
    if (k[name]) return (...a) => k[name](...a) >>> 0;
    current ??= new WebAssembly.Instance(kernelModule(), { env: { memory: wasmMemory } }).exports;
    if (current[name]) return (...a) => current[name](...a) >>> 0;
    return () => {
      throw new Error(`${path} has no ${name}`);
    };
  };
  return {
    backend: 'wasm',
    memory,
    // For bench modules that read the same arena (bench/lib/read-floor.mjs).
    wasmMemory,
    scanPlain: u32('scanPlain'),
    scanMeta: u32('scanMeta'),
    popcountPlain: u32('popcountPlain'),
    popcountMeta: u32('popcountMeta'),
    popcountRuns: u32('popcountRuns'),
    orMerge: u32('orMerge'),
    granularityExpand: u32('granularityExpand'),
    granularityShrink: u32('granularityShrink'),
    gatherPages: u32('gatherPages'),
    compareBlocks: u32('compareBlocks'),
    checksum: (ptr, len, state) => BigInt.asUintN(64, k.checksum(ptr, len, state)),
  };
}
