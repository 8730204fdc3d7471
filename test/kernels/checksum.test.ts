// The checksum kernel (assembly/checksum.ts) and its TypeScript twin: bit-for-bit the
// same on random inputs of every length 0..300 at every alignment, equal to the closed
// form of the function, and the errors that matter always detected: every single-byte
// error, and every burst of up to 32 bits (all patterns up to 12 bits, sampled beyond;
// bits numbered LSB first within a byte, as in zlib's reflected CRC-32; for the 64-bit
// form also MSB first), on a few buffers.
//
// Replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/kernels/checksum.test.ts.

import { beforeAll, describe, expect, test } from 'vitest';
import { ARENA_BASE, type Kernels, loadKernels } from '../../src/index.js';
import {
  checksum32, checksum64, checksumBackend, fold32, lendChecksumBuffers, returnChecksumBuffers, useChecksumKernels,
} from '../../src/storage/checksum.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('checksum');
const M32 = 0xffffffffn;

/** The function in closed form: a = a0 + sum w_i, b = b0 + n*a0 + sum (n - i) w_i (mod 2^32). */
function reference(bytes: Uint8Array, state: bigint): bigint {
  const n = Math.ceil(bytes.length / 4);
  let sumW = 0n;
  let sumWeighted = 0n;
  for (let i = 0; i < n; i++) {
    let w = 0n;
    for (let k = 3; k >= 0; k--) w = (w << 8n) | BigInt(bytes[i * 4 + k] ?? 0);
    sumW += w;
    sumWeighted += BigInt(n - i) * w;
  }
  const a0 = state & M32;
  const b0 = state >> 32n;
  const a = (a0 + sumW) & M32;
  const b = (b0 + BigInt(n) * a0 + sumWeighted) & M32;
  return (b << 32n) | a;
}

function randomState(prng: Prng): bigint {
  return (BigInt(prng.u32()) << 32n) | BigInt(prng.u32());
}

/** Runs the kernel on `bytes` copied to `offset` past the arena base. */
function run(k: Kernels, bytes: Uint8Array, offset: number, state: bigint): bigint {
  k.memory.grow(ARENA_BASE + offset + bytes.length);
  new Uint8Array(k.memory.buffer).set(bytes, ARENA_BASE + offset);
  return k.checksum(ARENA_BASE + offset, bytes.length, state);
}

describe('checksum kernel', () => {
  const wasm = loadKernels('wasm');
  const ts = loadKernels('ts');

  test('wasm and ts agree with each other and the closed form on every length 0..300 at random alignments', () => {
    const prng = new Prng(SEED);
    const bytes = prng.fill(new Uint8Array(300));
    for (let len = 0; len <= 300; len++) {
      for (let round = 0; round < 4; round++) {
        const data = prng.fill(bytes.subarray(0, len));
        const state = round === 0 ? 0n : randomState(prng);
        const want = reference(data, state);
        const offset = prng.int(0, 63);
        expect(run(wasm, data, offset, state), `len ${len} offset ${offset} seed ${SEED}`).toBe(want);
        expect(run(ts, data, prng.int(0, 63), state), `len ${len} seed ${SEED}`).toBe(want);
      }
    }
  });

  test('agree on large inputs (sums that wrap), and a step over parts equals one over the whole', () => {
    const prng = new Prng(SEED ^ 0x5a5a);
    for (const len of [65_536 + 13, 1_000_003]) {
      const data = prng.fill(new Uint8Array(len));
      data.fill(0xff, 0, 4096); // all-ones words make every sum wrap early
      const state = randomState(prng);
      const want = run(wasm, data, 3, state);
      expect(run(ts, data, 1, state)).toBe(want);
      expect(reference(data, state)).toBe(want);
      const cut = prng.int(0, len >> 2) << 2;
      const first = run(wasm, data.subarray(0, cut), 0, state);
      expect(run(ts, data.subarray(cut), 2, first), `cut ${cut} seed ${SEED}`).toBe(want);
    }
  });

  test('the results are unsigned 64-bit values', () => {
    const ones = new Uint8Array(64).fill(0xff);
    for (const k of [wasm, ts]) {
      const sum = run(k, ones, 0, 0xffffffff_ffffffffn);
      expect(sum).toBeGreaterThanOrEqual(0n);
      expect(sum).toBe(reference(ones, 0xffffffff_ffffffffn));
    }
  });
});

describe('checksum of records and frames', () => {
  beforeAll(() => useChecksumKernels(backend));

  test('runs on the backend under test and folds to 32 bits as a + 2b', () => {
    expect(checksumBackend()).toBe(backend);
    const prng = new Prng(SEED ^ 0x77);
    const data = prng.fill(new Uint8Array(1000));
    expect(checksum32(data)).toBe(fold32(checksum64(data)));
    const sum = checksum64(data, 12345n);
    expect(fold32(sum)).toBe(Number(((sum & M32) + 2n * (sum >> 32n)) & M32));
  });

  test('the length counts (trailing zeros change it), parts equal the whole, a seed chains', () => {
    const prng = new Prng(SEED ^ 0x99);
    const data = prng.fill(new Uint8Array(1003));
    const padded = new Uint8Array(1004);
    padded.set(data);
    expect(checksum64(padded)).not.toBe(checksum64(data));
    expect(checksum64(new Uint8Array(4))).not.toBe(checksum64(new Uint8Array(0)));
    expect(checksum64([data.subarray(0, 16), data.subarray(16)])).toBe(checksum64(data));
    expect(checksum64([data.subarray(0, 512), data.subarray(512, 600), data.subarray(600)])).toBe(checksum64(data));
    expect(() => checksum64([data.subarray(0, 3), data.subarray(3)])).toThrow(/multiple of 4/);
    expect(checksum64(data, 1n)).not.toBe(checksum64(data, 0n));
    expect(checksum64(data, 1n << 32n)).not.toBe(checksum64(data, 0n));
    // Spans more than one staging chunk.
    const big = prng.fill(new Uint8Array(700_001));
    expect(checksum64(big, 77n)).toBe(reference(big, (77n + 700_001n) & M32));
  });

  test('bytes lent from the kernels\' memory sum to what their copy sums to, alone and among other parts; loans run out and come back', () => {
    const prng = new Prng(SEED ^ 0x5a);
    const lent = lendChecksumBuffers(5, 4 << 20)!;
    expect(lent).toHaveLength(5);
    try {
      expect(lendChecksumBuffers(2, 1024)).toBeUndefined(); // six in all: one is left
      expect(lendChecksumBuffers(1, (4 << 20) + 1)).toBeUndefined();
      for (const b of lent) prng.fill(b);
      const copy = lent[2]!.slice(0, 1_000_003);
      const view = lent[2]!.subarray(0, 1_000_003);
      expect(checksum64(view, 5n)).toBe(checksum64(copy, 5n));
      expect(checksum64(view, 5n)).toBe(reference(copy, (5n + 1_000_003n) & M32));
      const head = prng.fill(new Uint8Array(20));
      expect(checksum64([head, lent[0]!.subarray(8, 4104), lent[4]!.subarray(1, 99)]))
        .toBe(checksum64([head, lent[0]!.slice(8, 4104), lent[4]!.slice(1, 99)]));
      // Lent views stay valid: nothing grows the memory while they are out.
      checksum64(prng.fill(new Uint8Array(3 << 20)));
      expect(lent[1]!.length).toBe(4 << 20);
    } finally {
      returnChecksumBuffers(lent);
    }
    const again = lendChecksumBuffers(6, 4096)!;
    expect(again).toHaveLength(6);
    returnChecksumBuffers(again);
  });

  /** Flips `pattern` (bit 0 first) into `bytes` starting at stream bit `start`. */
  function withBurst(bytes: Uint8Array, start: number, pattern: bigint, bits: number, msbFirst: boolean): Uint8Array {
    const out = bytes.slice();
    for (let i = 0; i < bits; i++) {
      if (((pattern >> BigInt(i)) & 1n) === 0n) continue;
      const at = start + i;
      const bit = msbFirst ? 7 - (at & 7) : at & 7;
      out[at >> 3]! ^= 1 << bit;
    }
    return out;
  }

  /** Bursts of exactly `bits` bits (first and last flipped) at `start`: all patterns, or `samples` random ones. */
  function* bursts(prng: Prng, bits: number, samples: number): Generator<bigint> {
    const ends = bits === 1 ? 1n : (1n | (1n << BigInt(bits - 1)));
    const middles = Math.max(0, bits - 2);
    if (middles <= 10) {
      for (let m = 0n; m < 1n << BigInt(middles); m++) yield ends | (m << 1n);
      return;
    }
    yield (1n << BigInt(bits)) - 1n; // all ones: 0 <-> 0xffffffff, one's complement sums' blind spot
    for (let s = 0; s < samples; s++) yield ends | ((BigInt(prng.u32()) & ((1n << BigInt(middles)) - 1n)) << 1n);
  }

  const buffers = (prng: Prng): Uint8Array[] => [
    new Uint8Array(37),
    prng.fill(new Uint8Array(64)),
    new Uint8Array(301).fill(0xff),
    prng.fill(new Uint8Array(4099)),
  ];

  test('every single-byte error is detected, by the 64-bit and the 32-bit form', () => {
    const prng = new Prng(SEED ^ 0x1234);
    for (const bytes of buffers(prng)) {
      const sum = checksum64(bytes);
      const sum32 = fold32(sum);
      // Every position of the small buffers; sampled positions (both ends included) of the big one.
      const positions = bytes.length <= 512 ? bytes.map((_, i) => i)
        : [0, 1, 2, 3, 4, 5, bytes.length - 1, bytes.length - 2, ...Array.from({ length: 24 }, () => prng.int(0, bytes.length - 1))];
      for (const at of positions) {
        const bad = bytes.slice();
        for (let x = 1; x < 256; x++) {
          bad[at] = bytes[at]! ^ x;
          const badSum = checksum64(bad);
          if (badSum === sum || fold32(badSum) === sum32) {
            throw new Error(`undetected: byte ${at} of ${bytes.length} xor ${x} (seed ${SEED})`);
          }
        }
      }
    }
  });

  test('every burst of up to 32 bits is detected (LSB first: both forms; MSB first: the 64-bit form)', () => {
    const prng = new Prng(SEED ^ 0x4321);
    let checked = 0;
    for (const bytes of buffers(prng)) {
      const sum = checksum64(bytes);
      const sum32 = fold32(sum);
      const totalBits = bytes.length * 8;
      // Starts at every bit offset of a word, across a word boundary and at both ends, plus random ones.
      const starts = new Set<number>();
      // (fewer on the big buffer, where each try hashes 4 KiB).
      const step = bytes.length > 512 ? 5 : 1;
      for (let s = 0; s < 40 && s < totalBits; s += step) starts.add(s);
      for (let s = 0; s < 8; s += step) starts.add(Math.max(0, totalBits - 32 - s));
      for (let s = 0; s < 6; s++) starts.add(prng.int(0, Math.max(0, totalBits - 32)));
      for (const start of starts) {
        for (let bits = 1; bits <= 32 && start + bits <= totalBits; bits++) {
          for (const pattern of bursts(prng, bits, 24)) {
            for (const msbFirst of [false, true]) {
              const badSum = checksum64(withBurst(bytes, start, pattern, bits, msbFirst));
              checked++;
              if (badSum === sum || (!msbFirst && fold32(badSum) === sum32)) {
                throw new Error(`undetected: ${msbFirst ? 'MSB' : 'LSB'}-first burst of ${bits} bits 0x${pattern.toString(16)} `
                  + `at bit ${start} of ${bytes.length} bytes (seed ${SEED})`);
              }
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(100_000);
  });
});
