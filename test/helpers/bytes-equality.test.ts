// The byte-array tester of the setup file changes speed, never verdicts.
import { describe, expect, test } from 'vitest';
import { integerArraysEqual } from './bytes-equality.js';
import { Prng, testSeed } from './prng.js';

describe('integer arrays compare as bytes', () => {
  const seed = testSeed('bytes-equality');

  test(`equal bytes pass, any one byte changed fails (seed ${seed})`, () => {
    const prng = new Prng(seed);
    const a = Buffer.from(prng.fill(new Uint8Array(1 << 20)));
    const b = Buffer.from(a);
    expect(a).toEqual(b);
    for (let i = 0; i < 20; i++) {
      const at = prng.int(0, a.length - 1);
      b[at] = b[at]! ^ prng.int(1, 255);
      expect(a).not.toEqual(b);
      expect(integerArraysEqual(a, b)).toBe(false);
      b[at] = a[at]!;
    }
    expect({ image: a, n: 1 }).toEqual({ image: b, n: 1 });
    expect([a.subarray(8, 100)]).toEqual([Buffer.from(a.subarray(8, 100))]);
  });

  test('lengths, views into larger buffers and element types are respected', () => {
    const big = new Uint8Array([9, 1, 2, 3, 9]);
    expect(big.subarray(1, 4)).toEqual(new Uint8Array([1, 2, 3]));
    expect(new Uint8Array([1, 2, 3])).not.toEqual(new Uint8Array([1, 2, 3, 0]));
    expect(new Uint32Array([1, 2])).toEqual(new Uint32Array([1, 2]));
    expect(new Uint32Array([1, 2])).not.toEqual(new Uint32Array([1, 3]));
    // Pairs it does not answer for are Vitest's as before.
    expect(integerArraysEqual(Buffer.from([1]), new Uint8Array([1]))).toBeUndefined();
    expect(integerArraysEqual(new Float64Array([NaN]), new Float64Array([NaN]))).toBeUndefined();
    expect(integerArraysEqual([1], [1])).toBeUndefined();
  });
});
