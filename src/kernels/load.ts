// The one place that chooses a kernel backend.

import { SnapcopyError, invalidArgument } from '../errors.js';
import type { BackendChoice, Kernels } from './api.js';
import { createTsKernels } from './ts/index.js';
import { createWasmKernels, kernelModule } from './wasm/instantiate.js';

const CHOICES: readonly BackendChoice[] = ['auto', 'wasm', 'ts'];

/** True when this engine can compile the WebAssembly SIMD kernels. */
export function wasmKernelsAvailable(): boolean {
  try {
    kernelModule();
    return true;
  } catch {
    return false;
  }
}

/**
 * A fresh kernel backend with an arena memory of its own. 'auto' (the default) is
 * WebAssembly when this engine validates its SIMD, else the TypeScript twin;
 * 'wasm' where it cannot load is an error (ERR_KERNELS_UNAVAILABLE).
 */
export function loadKernels(choice: BackendChoice = 'auto'): Kernels {
  if (!CHOICES.includes(choice)) {
    throw invalidArgument(`kernels must be one of ${CHOICES.join(', ')}, not ${String(choice)}`);
  }
  if (choice === 'ts') return createTsKernels();
  if (choice === 'auto') return wasmKernelsAvailable() ? createWasmKernels() : createTsKernels();
  try {
    return createWasmKernels();
  } catch (cause) {
    throw new SnapcopyError('ERR_KERNELS_UNAVAILABLE',
      `the WebAssembly SIMD kernels cannot run here: ${(cause as Error).message}`, { cause });
  }
}
