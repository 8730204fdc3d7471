// The versions index (`index.json`) a version source serves: a node builds it from a
// volume's checkpoints, `publish` writes it next to the streams it lists. The format
// is "snapcopy-versions/1" (see the README's "Serving versions"). A client reads it
// from a source it does not control, so everything is checked and bounded here: a
// field that is missing, of the wrong type or out of bounds is ERR_CORRUPT, and
// nothing past the first MAX_INDEX_BYTES is read.

import { corrupt } from '../errors.js';

export const INDEX_FORMAT = 'snapcopy-versions/1';

/** An index larger than this is refused before it is parsed (a million versions would still fit). */
export const MAX_INDEX_BYTES = 1 << 20;

/** Image ids are UUIDs: fixed length, so `<from>-<to>` splits without ambiguity. */
const IMAGE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NAME_LIMIT = 256;
/** Relative paths under the source: no scheme, no parent directories, no absolute paths. */
const RELATIVE_PATH = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._/-]{1,512}$/;

export interface VersionEntry {
  image: string;
  /** The checkpoint's name on the source. */
  name: string;
  created: string;
}

export interface FullEntry {
  to: string;
  path: string;
  bytes: number | null;
}

export interface DeltaEntry {
  from: string;
  to: string;
  path: string;
  bytes: number | null;
}

export interface VersionsIndex {
  format: typeof INDEX_FORMAT;
  volume: string;
  size: number;
  blockSize: number;
  /** Oldest first (J .. J+K); the last is the youngest. */
  versions: VersionEntry[];
  full: FullEntry[];
  /** null: the source makes a delta between any two versions it lists, at deltaPath(from, to). */
  deltas: DeltaEntry[] | null;
}

export const isImageId = (value: unknown): value is string => typeof value === 'string' && IMAGE.test(value);

export const fullPath = (image: string): string => `full/${image}.snap`;
export const deltaPath = (from: string, to: string): string => `delta/${from}-${to}.snap`;

/** What a `.snap` path names (null for anything else): the etag of its stream is `key`. */
export function parseSnapPath(path: string): { kind: 'full'; to: string; key: string } | { kind: 'delta'; from: string; to: string; key: string } | null {
  const full = /^full\/([0-9a-f-]{36})\.snap$/.exec(path);
  if (full && isImageId(full[1])) return { kind: 'full', to: full[1], key: full[1] };
  const delta = /^delta\/([0-9a-f-]{36})-([0-9a-f-]{36})\.snap$/.exec(path);
  if (delta && isImageId(delta[1]) && isImageId(delta[2])) {
    return { kind: 'delta', from: delta[1], to: delta[2], key: `${delta[1]}-${delta[2]}` };
  }
  return null;
}

function fail(what: string): never {
  throw corrupt(`the versions index is not valid: ${what}`);
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function text(value: unknown, what: string, limit = NAME_LIMIT): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > limit) fail(`${what} must be a string of 1..${limit} characters`);
  return value;
}

function image(value: unknown, what: string): string {
  if (!isImageId(value)) fail(`${what} must be an image id`);
  return value;
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(`${what} must be a whole number`);
  return value;
}

function bytesOf(value: unknown, what: string): number | null {
  return value === null || value === undefined ? null : count(value, what);
}

function path(value: unknown, what: string): string {
  if (typeof value !== 'string' || !RELATIVE_PATH.test(value)) fail(`${what} must be a relative path`);
  return value;
}

function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) fail(`${what} must be a list`);
  return value;
}

/** Checks a parsed index; returns it typed (unknown fields dropped). */
export function validateIndex(value: unknown): VersionsIndex {
  const o = object(value, 'the index');
  if (o.format !== INDEX_FORMAT) fail(`format must be "${INDEX_FORMAT}", not ${JSON.stringify(o.format)?.slice(0, 64)}`);
  const versions = list(o.versions, 'versions').map((v, i) => {
    const e = object(v, `versions[${i}]`);
    return { image: image(e.image, `versions[${i}].image`), name: text(e.name, `versions[${i}].name`), created: text(e.created, `versions[${i}].created`, 64) };
  });
  if (new Set(versions.map((v) => v.image)).size !== versions.length) fail('versions lists an image twice');
  const full = list(o.full, 'full').map((v, i) => {
    const e = object(v, `full[${i}]`);
    return { to: image(e.to, `full[${i}].to`), path: path(e.path, `full[${i}].path`), bytes: bytesOf(e.bytes, `full[${i}].bytes`) };
  });
  const deltas = o.deltas === null ? null : list(o.deltas, 'deltas').map((v, i) => {
    const e = object(v, `deltas[${i}]`);
    return {
      from: image(e.from, `deltas[${i}].from`), to: image(e.to, `deltas[${i}].to`),
      path: path(e.path, `deltas[${i}].path`), bytes: bytesOf(e.bytes, `deltas[${i}].bytes`),
    };
  });
  return {
    format: INDEX_FORMAT, volume: text(o.volume, 'volume'), size: count(o.size, 'size'), blockSize: count(o.blockSize, 'blockSize'),
    versions, full, deltas,
  };
}

/** Parses an index's bytes (refused past MAX_INDEX_BYTES or when not JSON). */
export function parseIndex(bytes: Uint8Array): VersionsIndex {
  if (bytes.byteLength > MAX_INDEX_BYTES) fail(`it is larger than ${MAX_INDEX_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    fail('it is not JSON');
  }
  return validateIndex(value);
}
