// What a published directory should hold, as pure functions of a volume's checkpoints
// and of the index already there (no I/O), so tests check them against a plain model.
//
// A published directory holds, like OSTree's static deltas: index.json, a full stream
// of the youngest version, and one delta from each of the K versions before it to the
// youngest. Versions are images: checkpoints made with no change between them hold the
// same image and count once, under the oldest checkpoint's name (the name a stream of
// that image was first made with, so a file for given ids is the same bytes each time).

import type { CheckpointInfo } from '../volume/volume.js';
import { type DeltaEntry, type FullEntry, type VersionEntry, type VersionsIndex, deltaPath, fullPath, parseIndex } from './index-format.js';

/** How many versions before the youngest get a delta, when --keep is not given. */
export const DEFAULT_KEEP = 7;
/** More deltas than this is a mistake (each costs a scan and a file at every publish). */
export const MAX_KEEP = 1000;

export const INDEX_FILE = 'index.json';

export type PublishedVersion = VersionEntry;
/** A full stream (no `from`) or a delta. */
export type PublishedFile = FullEntry & { from?: string };
/** index.json of a published directory: the deltas it holds are listed (never null). */
export type PublishedIndex = VersionsIndex & { deltas: DeltaEntry[] };

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
export function filesFor(versions: readonly PublishedVersion[]): { full: FullEntry[]; deltas: DeltaEntry[] } {
  const youngest = versions.at(-1);
  if (!youngest) return { full: [], deltas: [] };
  return {
    full: [{ to: youngest.image, path: fullPath(youngest.image), bytes: null }],
    deltas: versions.slice(0, -1).map((v) => ({ from: v.image, to: youngest.image, path: deltaPath(v.image, youngest.image), bytes: null })),
  };
}

/** Every file path an index names. */
export function pathsOf(index: VersionsIndex | undefined): string[] {
  if (!index) return [];
  return [...index.full, ...(index.deltas ?? [])].map((f) => f.path);
}

/**
 * The stream files to remove once the new index is durable: those neither index names.
 * The previous index's files stay one more round, so a client that read it just before
 * this publish still finds every file it names. Temporary files of a cut publish go too.
 */
export function filesToRemove(present: readonly string[], next: VersionsIndex, previous: VersionsIndex | undefined): string[] {
  const keep = new Set([...pathsOf(next), ...pathsOf(previous)]);
  return present.filter((p) => !keep.has(p));
}

/** The index's text: the same versions and files give the same bytes (publish is idempotent). */
export function indexText(index: PublishedIndex): string {
  return `${JSON.stringify(index, null, 2)}\n`;
}

/**
 * A previous index.json, if it is one (anything else, absent or not, is treated as no
 * previous index: publish then keeps no older files for it).
 */
export function parsePreviousIndex(bytes: Uint8Array | undefined): VersionsIndex | undefined {
  if (bytes === undefined) return undefined;
  try {
    return parseIndex(bytes);
  } catch {
    return undefined;
  }
}
