// Choosing a kernel backend at run time: loadKernels('auto' | 'wasm' | 'ts').

import { describe, expect, test } from 'vitest';
import {
  ARENA_BASE, Arena, type BackendChoice, SnapcopyError, loadKernels, wasmKernelsAvailable,
} from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { codeOf } from '../helpers/errors.js';

describe(`loadKernels (suite backend ${backend})`, () => {
  test('Node 20 validates the WebAssembly SIMD kernels', () => {
    expect(wasmKernelsAvailable()).toBe(true);
  });

  test("'wasm' and 'ts' give that backend; 'auto' and no choice give wasm where it runs", () => {
    expect(loadKernels('wasm').backend).toBe('wasm');
    expect(loadKernels('ts').backend).toBe('ts');
    expect(loadKernels('auto').backend).toBe('wasm');
    expect(loadKernels().backend).toBe('wasm');
    expect(new Arena().backend).toBe('wasm');
    expect(new Arena({ kernels: 'ts' }).backend).toBe('ts');
  });

  test('each load is a fresh backend with a memory of its own, ARENA_BASE bytes to start', () => {
    for (const choice of ['wasm', 'ts'] as const) {
      const one = loadKernels(choice), two = loadKernels(choice);
      expect(one).not.toBe(two);
      expect(one.memory.buffer).not.toBe(two.memory.buffer);
      expect(one.memory.buffer.byteLength).toBe(ARENA_BASE);
      expect(one.memory.grow(ARENA_BASE + 1)).toBe(true);
      expect(one.memory.buffer.byteLength).toBeGreaterThan(ARENA_BASE);
      expect(two.memory.buffer.byteLength).toBe(ARENA_BASE);
      expect(one.memory.grow(one.memory.maxBytes + 1)).toBe(false);
    }
  });

  test('an invalid choice throws ERR_INVALID_ARGUMENT', () => {
    for (const bad of ['gpu', 'WASM', '', 'typescript', null, 42]) {
      expect(codeOf(() => loadKernels(bad as unknown as BackendChoice)), String(bad)).toBe('ERR_INVALID_ARGUMENT');
    }
    for (const bad of ['gpu', 'WASM', '', 42]) {
      expect(codeOf(() => new Arena({ kernels: bad as unknown as BackendChoice })), String(bad)).toBe('ERR_INVALID_ARGUMENT');
    }
  });

  test('an Arena can run on a Kernels object it is given', () => {
    const kernels = loadKernels('ts');
    const arena = new Arena({ kernels });
    expect(arena.kernels).toBe(kernels);
    expect(arena.backend).toBe('ts');
  });
});
