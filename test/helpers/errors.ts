import { expect } from 'vitest';
import { SnapcopyError } from '../../src/index.js';

/** The `code` of the SnapcopyError `fn` throws (failing the test on any other error), or undefined. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SnapcopyError);
    return (e as SnapcopyError).code;
  }
  return undefined;
}
