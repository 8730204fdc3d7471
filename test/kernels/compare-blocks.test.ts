// The block compare kernel (assembly/compare-blocks.ts), its TypeScript twin and the
// differingBlocks helper: both backends agree with a plain loop on random regions at
// random alignments, for every block size 512 B .. 1 MiB (powers of two) and for odd
// small sizes that reach every tail of the SIMD loop; blocks differ nowhere, in one
// bit anywhere, at their first or last byte, or everywhere.
//
// Replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/kernels/compare-blocks.test.ts.

import { afterAll, describe, expect, test } from 'vitest';
import { ARENA_BASE, type Kernels, loadKernels } from '../../src/index.js';
import { differingBlocks, MEMCMP_MIN_BLOCK, useBlockCompareKernels } from '../../src/kernels/block-compare.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('compare-blocks');
const MiB = 1 << 20;

/** The plain loop the kernels must agree with. */
function reference(a: Uint8Array, b: Uint8Array, blockBytes: number): Uint8Array {
  const flags = new Uint8Array(a.length / blockBytes);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) flags[Math.floor(i / blockBytes)] = 1;
  return flags;
}

type Change = 'same' | 'one-bit' | 'first' | 'last' | 'all';
const CHANGES: readonly Change[] = ['same', 'one-bit', 'first', 'last', 'all'];

/** Two regions of `blocks` blocks: b is a copy of a with each block changed one of the ways. */
function regions(prng: Prng, blockBytes: number, blocks: number): [Uint8Array, Uint8Array] {
  const a = prng.fill(new Uint8Array(blockBytes * blocks));
  const b = a.slice();
  for (let i = 0; i < blocks; i++) {
    const base = i * blockBytes;
    const change = prng.pick(CHANGES);
    if (change === 'one-bit') b[base + prng.int(0, blockBytes - 1)]! ^= 1 << prng.int(0, 7);
    else if (change === 'first') b[base]! ^= 0x80;
    else if (change === 'last') b[base + blockBytes - 1]! ^= 1;
    else if (change === 'all') prng.fill(b.subarray(base, base + blockBytes));
  }
  return [a, b];
}

/** Runs the kernel with a and b copied to random alignments in its memory. */
function run(k: Kernels, prng: Prng, a: Uint8Array, b: Uint8Array, blockBytes: number): { flags: Uint8Array; count: number } {
  const blocks = a.length / blockBytes;
  const x = ARENA_BASE + prng.int(0, 63);
  const y = x + a.length + prng.int(0, 63);
  const out = y + b.length + prng.int(0, 15);
  k.memory.grow(out + blocks);
  const memory = new Uint8Array(k.memory.buffer);
  memory.set(a, x);
  memory.set(b, y);
  memory.fill(7, out, out + blocks); // every flag must be written
  const count = k.compareBlocks(x, y, blockBytes, blocks, out);
  return { flags: new Uint8Array(k.memory.buffer).slice(out, out + blocks), count };
}

const sum = (flags: Uint8Array) => flags.reduce((s, f) => s + f, 0);

describe('compareBlocks kernel', () => {
  const kernels = [loadKernels('wasm'), loadKernels('ts')];

  test('both backends agree with a plain loop for every block size 512 B .. 1 MiB', () => {
    const prng = new Prng(SEED);
    for (let blockBytes = 512; blockBytes <= MiB; blockBytes *= 2) {
      const blocks = Math.max(3, Math.min(24, (4 * MiB) / blockBytes));
      const [a, b] = regions(prng, blockBytes, blocks);
      const want = reference(a, b, blockBytes);
      for (const k of kernels) {
        const got = run(k, prng, a, b, blockBytes);
        expect(got.flags, `${k.backend}, ${blockBytes}-byte blocks, seed ${SEED}`).toEqual(want);
        expect(got.count).toBe(sum(want));
      }
    }
  });

  test('both backends agree on odd block sizes 1..200 (every tail of the 64- and 16-byte steps)', () => {
    const prng = new Prng(SEED ^ 0x3c3c);
    for (let blockBytes = 1; blockBytes <= 200; blockBytes++) {
      const [a, b] = regions(prng, blockBytes, prng.int(1, 9));
      const want = reference(a, b, blockBytes);
      for (const k of kernels) expect(run(k, prng, a, b, blockBytes).flags, `${k.backend}, ${blockBytes} B, seed ${SEED}`).toEqual(want);
    }
  });

  test('no blocks: nothing written, 0 returned', () => {
    for (const k of kernels) {
      const memory = new Uint8Array(k.memory.buffer);
      memory[ARENA_BASE] = 9;
      expect(k.compareBlocks(ARENA_BASE + 64, ARENA_BASE + 128, 512, 0, ARENA_BASE)).toBe(0);
      expect(new Uint8Array(k.memory.buffer)[ARENA_BASE]).toBe(9);
    }
  });
});

describe('differingBlocks', () => {
  useBlockCompareKernels(backend);
  afterAll(() => useBlockCompareKernels('auto'));

  test('both ways (staged kernel, per-block memcmp) give the plain loop\'s flags, across staging windows', () => {
    const prng = new Prng(SEED ^ 0x5151);
    for (const blockBytes of [512, 2048, MEMCMP_MIN_BLOCK, 8192, MiB]) {
      // More than one 256 KiB staging window at small sizes; at 1 MiB one block a window.
      const blocks = blockBytes >= MiB ? 3 : prng.int(1, (768 * 1024) / blockBytes);
      const [a, b] = regions(prng, blockBytes, blocks);
      const want = reference(a, b, blockBytes);
      for (const way of ['auto', 'kernel', 'memcmp'] as const) {
        expect(differingBlocks(a, b, blockBytes, undefined, way), `${way}, ${blockBytes} B x ${blocks}, seed ${SEED}`).toEqual(want);
      }
      // Views at odd offsets into larger buffers.
      const wide = new Uint8Array(a.length + 3);
      wide.set(a, 3);
      expect(differingBlocks(wide.subarray(3), b, blockBytes, undefined, 'kernel')).toEqual(want);
    }
  });

  test('writes into a given flags array', () => {
    const a = new Uint8Array(2048);
    const b = a.slice();
    b[1500] = 1;
    const out = new Uint8Array(10).fill(5);
    expect(differingBlocks(a, b, 512, out)).toBe(out);
    expect([...out]).toEqual([0, 0, 1, 0, 5, 5, 5, 5, 5, 5]);
  });

  test('bad arguments: one clear error, ERR_INVALID_ARGUMENT, and nothing written', () => {
    const a = new Uint8Array(1024);
    const out = new Uint8Array(4).fill(5);
    const cases: Array<[() => unknown, RegExp]> = [
      [() => differingBlocks(a, new Uint8Array(512), 512, out), /cannot compare 1024 bytes with 512/],
      [() => differingBlocks(a, a, 0, out), /block size must be/],
      [() => differingBlocks(a, a, 2 * MiB, out), /block size must be/],
      [() => differingBlocks(a, a, 1.5, out), /block size must be/],
      [() => differingBlocks(a, a, 1000, out), /not whole blocks of 1000/],
      [() => differingBlocks(a, a, 128, out), /flags need 8 bytes/],
      [() => differingBlocks([] as unknown as Uint8Array, a, 512, out), /must be Uint8Arrays/],
    ];
    for (const [fn, message] of cases) {
      expect(fn).toThrow(message);
      try {
        fn();
      } catch (e) {
        expect((e as { code?: string }).code).toBe('ERR_INVALID_ARGUMENT');
      }
    }
    expect([...out]).toEqual([5, 5, 5, 5]);
  });
});
