// The update decision (every branch) and the versions index parser (bad input, limits).
import { describe, expect, test } from 'vitest';
import { decideUpdate } from '../../src/distribution/decide.js';
import { INDEX_FORMAT, MAX_INDEX_BYTES, parseIndex, parseSnapPath, type VersionsIndex } from '../../src/distribution/index-format.js';
import { rangeOf } from '../../src/distribution/range.js';
import { SnapcopyError } from '../../src/errors.js';

const id = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
const [A, B, C, D, X] = [id(1), id(2), id(3), id(4), id(99)];

function nodeIndex(images = [A, B, C]): VersionsIndex {
  return {
    format: INDEX_FORMAT, volume: 'vol', size: 8192, blockSize: 512,
    versions: images.map((image, i) => ({ image, name: `v${i + 1}`, created: '2026-01-01T00:00:00.000Z' })),
    full: images.map((image) => ({ to: image, path: `full/${image}.snap`, bytes: null })),
    deltas: null,
  };
}

/** A published directory: a full stream of the youngest, deltas from the others to it. */
function publishedIndex(): VersionsIndex {
  return {
    ...nodeIndex(), full: [{ to: C, path: `full/${C}.snap`, bytes: 100 }],
    deltas: [{ from: B, to: C, path: `delta/${B}-${C}.snap`, bytes: 10 }],
  };
}

function refused(code: string, run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SnapcopyError);
    expect((error as SnapcopyError).code).toBe(code);
    return (error as Error).message;
  }
  throw new Error(`expected ${code}`);
}

describe('decideUpdate', () => {
  test('held = youngest: up to date, nothing to fetch', () => {
    expect(decideUpdate(nodeIndex(), C)).toEqual({ result: 'up-to-date', from: C, to: C, path: null, bytes: 0 });
  });

  test('held listed and older: one delta to the youngest (a node makes any)', () => {
    expect(decideUpdate(nodeIndex(), A)).toEqual({ result: 'delta', from: A, to: C, path: `delta/${A}-${C}.snap`, bytes: null });
  });

  test('held nothing: a full copy of the youngest', () => {
    expect(decideUpdate(nodeIndex(), null)).toEqual({ result: 'full', from: null, to: C, path: `full/${C}.snap`, bytes: null });
  });

  test('held older than J (deleted on the source) or foreign: a full copy', () => {
    expect(decideUpdate(nodeIndex([B, C]), A).result).toBe('full');
    expect(decideUpdate(nodeIndex(), X)).toMatchObject({ result: 'full', from: null, to: C });
  });

  test('a version asked for by image or by name', () => {
    expect(decideUpdate(nodeIndex(), A, B)).toMatchObject({ result: 'delta', from: A, to: B, path: `delta/${A}-${B}.snap` });
    expect(decideUpdate(nodeIndex(), null, 'v2')).toMatchObject({ result: 'full', to: B });
    expect(decideUpdate(nodeIndex(), B, 'v2').result).toBe('up-to-date');
  });

  test('a version older than the one held is refused (ERR_NOT_YOUNGER)', () => {
    expect(refused('ERR_NOT_YOUNGER', () => decideUpdate(nodeIndex(), C, A))).toMatch(/does not go back/);
  });

  test('a version the source does not have, or a source with none: ERR_NOT_FOUND naming what it holds', () => {
    expect(refused('ERR_NOT_FOUND', () => decideUpdate(nodeIndex(), A, D))).toMatch(/v1, v2, v3/);
    expect(refused('ERR_NOT_FOUND', () => decideUpdate(nodeIndex([]), null))).toMatch(/no versions/);
  });

  test('a published directory: listed deltas only; otherwise its full copy of the youngest', () => {
    expect(decideUpdate(publishedIndex(), B)).toEqual({ result: 'delta', from: B, to: C, path: `delta/${B}-${C}.snap`, bytes: 10 });
    expect(decideUpdate(publishedIndex(), A)).toMatchObject({ result: 'full', to: C, bytes: 100 }); // no delta A→C held
    expect(refused('ERR_NOT_FOUND', () => decideUpdate(publishedIndex(), null, B))).toMatch(/no full copy of v2/);
  });
});

describe('parseIndex', () => {
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

  test('round trip of a valid index', () => {
    expect(parseIndex(encode(nodeIndex()))).toEqual(nodeIndex());
    expect(parseIndex(encode(publishedIndex()))).toEqual(publishedIndex());
  });

  test('at the size limit it parses; one byte over, ERR_CORRUPT before parsing', () => {
    const base = new TextDecoder().decode(encode(nodeIndex()));
    const padded = base.slice(0, -1) + ' '.repeat(MAX_INDEX_BYTES - base.length) + '}';
    expect(padded.length).toBe(MAX_INDEX_BYTES);
    expect(parseIndex(new TextEncoder().encode(padded)).versions).toHaveLength(3);
    expect(refused('ERR_CORRUPT', () => parseIndex(new TextEncoder().encode(`${padded} `)))).toMatch(/larger than/);
  });

  const bad: [string, (i: Record<string, unknown>) => unknown][] = [
    ['not an object', () => [1, 2]],
    ['wrong format', (i) => ({ ...i, format: 'snapcopy-versions/2' })],
    ['versions not a list', (i) => ({ ...i, versions: {} })],
    ['an image that is not an id', (i) => ({ ...i, versions: [{ image: '../etc', name: 'a', created: 'x' }] })],
    ['an image listed twice', (i) => ({ ...i, versions: [...(i.versions as unknown[]), (i.versions as unknown[])[0]] })],
    ['a name too long', (i) => ({ ...i, versions: [{ image: A, name: 'n'.repeat(257), created: 'x' }] })],
    ['an empty name', (i) => ({ ...i, versions: [{ image: A, name: '', created: 'x' }] })],
    ['a negative size', (i) => ({ ...i, size: -1 })],
    ['a fractional block size', (i) => ({ ...i, blockSize: 1.5 })],
    ['a path going up', (i) => ({ ...i, full: [{ to: A, path: '../secret', bytes: 1 }] })],
    ['an absolute path', (i) => ({ ...i, full: [{ to: A, path: '/etc/passwd', bytes: 1 }] })],
    ['a URL as path', (i) => ({ ...i, full: [{ to: A, path: 'http://elsewhere/x', bytes: 1 }] })],
    ['bytes as text', (i) => ({ ...i, full: [{ to: A, path: 'full/a.snap', bytes: '12' }] })],
    ['deltas neither null nor a list', (i) => ({ ...i, deltas: 'all' })],
    ['a delta without from', (i) => ({ ...i, deltas: [{ to: A, path: 'delta/x.snap', bytes: 1 }] })],
  ];
  test.each(bad)('%s: ERR_CORRUPT', (_what, change) => {
    refused('ERR_CORRUPT', () => parseIndex(encode(change(nodeIndex() as unknown as Record<string, unknown>))));
  });

  test('bytes that are not UTF-8 JSON: ERR_CORRUPT', () => {
    refused('ERR_CORRUPT', () => parseIndex(new Uint8Array([0xff, 0xfe, 0x7b])));
    refused('ERR_CORRUPT', () => parseIndex(new TextEncoder().encode('{"format":')));
    refused('ERR_CORRUPT', () => parseIndex(new Uint8Array(0)));
  });

  test('.snap paths name their ids; anything else is not a stream', () => {
    expect(parseSnapPath(`full/${A}.snap`)).toEqual({ kind: 'full', to: A, key: A });
    expect(parseSnapPath(`delta/${A}-${B}.snap`)).toEqual({ kind: 'delta', from: A, to: B, key: `${A}-${B}` });
    for (const p of [`full/${A}`, `delta/${A}.snap`, `full/ABCDEF01-0000-4000-8000-000000000000.snap`, `delta/${A}-${B}-x.snap`, `full/../${A}.snap`]) {
      expect(parseSnapPath(p), p).toBeNull();
    }
  });
});

describe('rangeOf', () => {
  test('whole, open-ended, closed, suffix, clamped', () => {
    expect(rangeOf(undefined, 10)).toEqual({ kind: 'whole' });
    expect(rangeOf('bytes=3-', 10)).toEqual({ kind: 'part', start: 3, end: 9 });
    expect(rangeOf('bytes=3-5', 10)).toEqual({ kind: 'part', start: 3, end: 5 });
    expect(rangeOf('bytes=-4', 10)).toEqual({ kind: 'part', start: 6, end: 9 });
    expect(rangeOf('bytes=-40', 10)).toEqual({ kind: 'part', start: 0, end: 9 });
    expect(rangeOf('bytes=8-100', 10)).toEqual({ kind: 'part', start: 8, end: 9 });
    expect(rangeOf('bytes=0-0,5-6', 10)).toEqual({ kind: 'whole' });
  });

  test('past the end, reversed, or not a range: unsatisfiable', () => {
    for (const h of ['bytes=10-', 'bytes=5-3', 'bytes=-0', 'bytes=-', 'lines=1-2', 'bytes=a-b', 'bytes=99999999999999999999-']) {
      expect(rangeOf(h, 10), h).toEqual({ kind: 'unsatisfiable' });
    }
    expect(rangeOf('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
  });
});
