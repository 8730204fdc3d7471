// What a published directory should hold, as pure functions of a volume's checkpoints
// and of the index already there (no I/O), so tests check them against a plain model.
//
// A published directory holds, like OSTree's static deltas: index.json, a full stream
// of the youngest version, and one delta from each of the K versions before it to the
// youngest. Versions are images: checkpoints made with no change between them hold the
// same image and count once, under the oldest checkpoint's name (the name a stream of
// that image was first made with, so a file for given ids is the same bytes each time).

import type { CheckpointInfo } from '../volume/volume.js';

/** How many versions before the youngest get a delta, when --keep is not given. */
export const DEFAULT_KEEP = 7;
/** More deltas than this is a mistake (each costs a scan and a file at every publish). */
export const MAX_KEEP = 1000;

export const VERSIONS_FORMAT = 'snapcopy-versions/1';
export const INDEX_FILE = 'index.json';

export interface PublishedVersion {
  image: string;
  name: string;
  created: string;
}

export interface PublishedFile {
  /** Absent for a full stream. */
  from?: string;
  to: string;
  /** Relative to the directory: full/<to>.snap or delta/<from>-<to>.snap. */
  path: string;
  bytes: number | null;
}

/** index.json of a published directory (the versions format, see README "Publishing versions"). */
export interface PublishedIndex {
  format: typeof VERSIONS_FORMAT;
  volume: string;
  size: number;
  blockSize: number;
  versions: PublishedVersion[];
  full: PublishedFile[];
  deltas: PublishedFile[];
}

export function fullPath(image: string): string {
  return `full/${image}.snap`;
}

export function deltaPath(from: string, to: string): string {
  return `delta/${from}-${to}.snap`;
}

/** The versions to publish: the youngest K+1 distinct images, oldest first. */
export function versionsToPublish(checkpoints: readonly CheckpointInfo[], keep: number): PublishedVersion[] {
  const bySeq = [...checkpoints].sort((a, b) => a.seq - b.seq);
  const seen = new Set<string>();
  const versions: PublishedVersion[] = [];
  for (const c of bySeq) {
    if (seen.has(c.image)) continue;
    seen.add(c.image);
    versions.push({ image: c.image, name: c.name, created: c.created });
  }
  return versions.slice(-(keep + 1));
}

/** The files the index for these versions names (bytes unknown yet: null). */
export function filesFor(versions: readonly PublishedVersion[]): { full: PublishedFile[]; deltas: PublishedFile[] } {
  const youngest = versions.at(-1);
  if (!youngest) return { full: [], deltas: [] };
  return {
    full: [{ to: youngest.image, path: fullPath(youngest.image), bytes: null }],
    deltas: versions.slice(0, -1).map((v) => ({ from: v.image, to: youngest.image, path: deltaPath(v.image, youngest.image), bytes: null })),
  };
}

/** Every file path an index names. */
export function pathsOf(index: PublishedIndex | undefined): string[] {
  if (!index) return [];
  return [...index.full, ...(index.deltas ?? [])].map((f) => f.path);
}

/**
 * The stream files to remove once the new index is durable: those neither index names.
 * The previous index's files stay one more round, so a client that read it just before
 * this publish still finds every file it names. Temporary files of a cut publish go too.
 */
export function filesToRemove(present: readonly string[], next: PublishedIndex, previous: PublishedIndex | undefined): string[] {
  const keep = new Set([...pathsOf(next), ...pathsOf(previous)]);
  return present.filter((p) => !keep.has(p));
}

/** The index's text: the same versions and files give the same bytes (publish is idempotent). */
export function indexText(index: PublishedIndex): string {
  return `${JSON.stringify(index, null, 2)}\n`;
}

/**
 * A previous index.json, if it is one of ours; anything else (absent, torn by hand,
 * another format) is treated as no previous index.
 */
export function parsePreviousIndex(text: string | undefined): PublishedIndex | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as PublishedIndex;
    if (value?.format !== VERSIONS_FORMAT || !Array.isArray(value.full)) return undefined;
    if (value.deltas !== null && !Array.isArray(value.deltas)) return undefined;
    const paths = [...value.full, ...(value.deltas ?? [])].map((f) => f?.path);
    return paths.every((p) => typeof p === 'string' && isStreamPath(p)) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** full/<x>.snap or delta/<x>.snap, and nothing that could name a file outside them. */
export function isStreamPath(path: string): boolean {
  return /^(full|delta)\/[A-Za-z0-9._-]+\.snap$/.test(path) && !path.includes('..');
}
