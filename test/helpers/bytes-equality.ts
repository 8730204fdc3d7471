// toEqual over byte arrays, compared as bytes (a setup file of every project).
//
// Vitest's own equality walks a typed array element by element through its generic
// iterable comparison: 3.7 s for one 1 MiB Buffer on this machine, where Buffer.compare
// takes a third of a millisecond. The suites compare whole volume images that way (the
// everyday command tests spent most of their 100 s there). This tester answers for
// two integer typed arrays of the same kind: equal exactly when their bytes are. Any
// other pair (a Buffer against a Uint8Array, float arrays, where NaN and -0 make bytes
// the wrong test) it leaves to Vitest, so what passes and fails is unchanged.
import { expect } from 'vitest';

const INTEGER_ARRAYS: ReadonlySet<unknown> = new Set([
  Buffer, Uint8Array, Uint8ClampedArray, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array,
  BigUint64Array, BigInt64Array,
]);

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

export function integerArraysEqual(a: unknown, b: unknown): boolean | undefined {
  if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b)) return undefined;
  if (a.constructor !== b.constructor || !INTEGER_ARRAYS.has(a.constructor)) return undefined;
  return a.byteLength === b.byteLength && Buffer.compare(bytesOf(a), bytesOf(b)) === 0;
}

expect.addEqualityTesters([integerArraysEqual]);
