// The arena's allocator: page runs (zeroed, or scratch that may hold old bytes), their
// accounting, and views that follow the memory when it grows.

import { describe, expect, test } from 'vitest';
import { Arena, PAGE_BYTES, loadKernels } from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { codeOf } from '../helpers/errors.js';

describe(`Arena (${backend})`, () => {
  test('alloc gives zeroed page-aligned runs; a freed run comes back zeroed', () => {
    const arena = new Arena({ kernels: backend });
    const a = arena.alloc(PAGE_BYTES + 1);
    expect(a % PAGE_BYTES).toBe(0);
    expect(arena.stats().bytesInUse).toBe(2 * PAGE_BYTES);
    arena.u8.fill(7, a, a + 2 * PAGE_BYTES);
    arena.free(a, PAGE_BYTES + 1);
    expect(arena.stats().bytesInUse).toBe(0);
    const b = arena.alloc(2 * PAGE_BYTES);
    expect(b).toBe(a);
    expect(arena.u8.subarray(b, b + 2 * PAGE_BYTES).every((x) => x === 0)).toBe(true);
  });

  test('allocScratch takes runs as alloc does, counted in use, reused at their size', () => {
    const arena = new Arena({ kernels: backend });
    const kept = arena.alloc(PAGE_BYTES);
    const s = arena.allocScratch(3 * PAGE_BYTES - 5);
    expect(s % PAGE_BYTES).toBe(0);
    // Not overlapping what is in use.
    expect(s >= kept + PAGE_BYTES || s + 3 * PAGE_BYTES <= kept).toBe(true);
    expect(arena.stats().bytesInUse).toBe(4 * PAGE_BYTES);
    arena.free(s, 3 * PAGE_BYTES - 5);
    expect(arena.stats().bytesInUse).toBe(PAGE_BYTES);
    expect(arena.allocScratch(3 * PAGE_BYTES)).toBe(s);
    // A zeroed alloc of that size is a fresh run now, and later the freed scratch comes back zeroed.
    arena.u8.fill(9, s, s + 3 * PAGE_BYTES);
    arena.free(s, 3 * PAGE_BYTES);
    const z = arena.alloc(3 * PAGE_BYTES);
    expect(z).toBe(s);
    expect(arena.u8.subarray(z, z + 3 * PAGE_BYTES).every((x) => x === 0)).toBe(true);
  });

  test('allocScratch refuses sizes that are not positive integers', () => {
    const arena = new Arena({ kernels: backend });
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(codeOf(() => arena.allocScratch(bad)), String(bad)).toBe('ERR_INVALID_ARGUMENT');
    expect(arena.stats().bytesInUse).toBe(0);
  });

  test('the memory always holds 16 bytes past every run and slot (the kernels copy sparse lists 16 bytes at a time)', () => {
    const slack = 16;
    const arena = new Arena({ kernels: backend });
    // A run that ends exactly where the memory does, were there no slack.
    const top = arena.alloc(PAGE_BYTES) + PAGE_BYTES;
    const exact = arena.u8.byteLength - top;
    const run = arena.alloc(exact);
    expect(run).toBe(top);
    expect(run + exact + slack).toBeLessThanOrEqual(arena.u8.byteLength);
    for (let i = 0; i < 200; i++) {
      const slot = arena.allocSmall(64);
      expect(slot + 64 + slack).toBeLessThanOrEqual(arena.u8.byteLength);
      const page = arena.alloc(PAGE_BYTES * (1 + (i % 7)));
      expect(page + PAGE_BYTES * (1 + (i % 7)) + slack).toBeLessThanOrEqual(arena.u8.byteLength);
    }
  });

  test('views follow the memory when it grows, by the arena or past it', () => {
    const kernels = loadKernels(backend);
    const arena = new Arena({ kernels });
    const start = arena.u8.byteLength;
    arena.alloc(start * 2);
    const grown = arena.u8.byteLength;
    expect(grown).toBeGreaterThanOrEqual(start * 3);
    expect(kernels.memory.grow(grown * 2)).toBe(true);
    expect(arena.u8.byteLength).toBe(kernels.memory.buffer.byteLength);
    expect(arena.u32.length * 4).toBe(grown * 2);
    arena.u8[grown + 1] = 5;
    expect(new Uint8Array(kernels.memory.buffer)[grown + 1]).toBe(5);
  });
});
