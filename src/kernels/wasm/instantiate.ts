// The WebAssembly backend: build/kernels.wasm (compiled from assembly/ at set-up and
// embedded in kernels-wasm.generated.ts) on a WebAssembly.Memory of its own.

import { ARENA_BASE, type KernelMemory, type Kernels } from '../api.js';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.generated.js';

const WASM_PAGE = 65536;
const MAX_PAGES = 65536;

interface KernelExports {
  scanPlain(...args: number[]): number;
  scanMeta(...args: number[]): number;
  popcountPlain(...args: number[]): number;
  popcountMeta(...args: number[]): number;
  popcountRuns(...args: number[]): number;
  orMerge(...args: number[]): number;
  granularityExpand(...args: number[]): number;
  granularityShrink(...args: number[]): number;
  gatherPages(...args: number[]): number;
  checksum(ptr: number, len: number, state: bigint): bigint;
  compareBlocks(...args: number[]): number;
}

let compiled: WebAssembly.Module | undefined;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** The compiled kernels; throws when this engine cannot run them (no SIMD). */
export function kernelModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(decodeBase64(KERNELS_WASM_BASE64));
  return compiled;
}

function createMemory(): { memory: KernelMemory; wasmMemory: WebAssembly.Memory } {
  const wasmMemory = new WebAssembly.Memory({ initial: ARENA_BASE / WASM_PAGE, maximum: MAX_PAGES });
  // The buffer getter is a call into the engine (tens of ns), and the arena asks for it on
  // every view it hands out. A grown memory detaches its old buffer (byteLength 0), whoever
  // grew it, so a cached buffer with bytes is the current one.
  let buffer = wasmMemory.buffer as ArrayBuffer;
  const memory: KernelMemory = {
    get buffer() {
      if (buffer.byteLength === 0) buffer = wasmMemory.buffer as ArrayBuffer;
      return buffer;
    },
    maxBytes: MAX_PAGES * WASM_PAGE,
    grow(bytes: number): boolean {
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
  return { memory, wasmMemory };
}

export function createWasmKernels(): Kernels {
  const { memory, wasmMemory } = createMemory();
  const instance = new WebAssembly.Instance(kernelModule(), { env: { memory: wasmMemory } });
  const k = instance.exports as unknown as KernelExports;
  // Results are u32; WebAssembly hands them to JS as signed i32.
  return {
    backend: 'wasm',
    memory,
    scanPlain: (...a) => k.scanPlain(...a) >>> 0,
    scanMeta: (...a) => k.scanMeta(...a) >>> 0,
    popcountPlain: (...a) => k.popcountPlain(...a) >>> 0,
    popcountMeta: (...a) => k.popcountMeta(...a) >>> 0,
    popcountRuns: (...a) => k.popcountRuns(...a) >>> 0,
    orMerge: (...a) => k.orMerge(...a) >>> 0,
    granularityExpand: (...a) => k.granularityExpand(...a) >>> 0,
    granularityShrink: (...a) => k.granularityShrink(...a) >>> 0,
    gatherPages: (...a) => k.gatherPages(...a) >>> 0,
    // An i64 result arrives as a signed BigInt.
    checksum: (ptr, len, state) => BigInt.asUintN(64, k.checksum(ptr, len, state)),
    compareBlocks: (...a) => k.compareBlocks(...a) >>> 0,
  };
}
