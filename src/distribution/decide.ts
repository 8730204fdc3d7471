// The update decision (the seed's FIG. 37/38), a pure function of a versions index, the
// version a client holds and the one it wants, so a node and a client reading a
// published directory decide alike:
//   wanted = the youngest version (J+K) unless one is asked for;
//   held = wanted                                   → up to date (nothing to send);
//   held listed and older, a delta held→wanted exists → one delta (step 649);
//   otherwise: held none, older than J (step 647's "Q < K": Q older than the oldest
//   version kept), deleted, foreign, or no such delta → a full copy of wanted (step 648).
// Asking for a version older than the one held is refused: a pull never goes back.

import { SnapcopyError, notFound } from '../errors.js';
import { deltaPath, type VersionsIndex } from './index-format.js';

export type UpdateResult = 'up-to-date' | 'delta' | 'full';

export interface UpdateDecision {
  result: UpdateResult;
  /** The image the stream applies to: the held one for a delta, null for a full copy or up to date. */
  from: string | null;
  /** The image the client holds afterwards. */
  to: string;
  /** The stream's path under the source (null when up to date). */
  path: string | null;
  /** The stream's size when the source says (null when it does not know; 0 when up to date). */
  bytes: number | null;
}

/** The index position of a version named by image id or by checkpoint name (-1: not listed). */
function positionOf(index: VersionsIndex, version: string): number {
  const byImage = index.versions.findIndex((v) => v.image === version);
  return byImage >= 0 ? byImage : index.versions.findLastIndex((v) => v.name === version);
}

function holdings(index: VersionsIndex): string {
  if (index.versions.length === 0) return 'it holds no versions';
  return `it holds ${index.versions.map((v) => v.name).join(', ')}`;
}

/** The decision for a client holding `held` (null: nothing) that wants `wanted` (default the youngest). */
export function decideUpdate(index: VersionsIndex, held: string | null, wanted?: string): UpdateDecision {
  if (index.versions.length === 0) throw notFound(`the source of ${index.volume} has no versions to pull`);
  const at = wanted === undefined ? index.versions.length - 1 : positionOf(index, wanted);
  if (at < 0) throw notFound(`the source of ${index.volume} has no version ${wanted} (${holdings(index)})`);
  const to = index.versions[at]!;
  if (held === to.image) return { result: 'up-to-date', from: held, to: to.image, path: null, bytes: 0 };
  const heldAt = held === null ? -1 : index.versions.findIndex((v) => v.image === held);
  if (heldAt > at) {
    throw new SnapcopyError('ERR_NOT_YOUNGER',
      `the version held (${index.versions[heldAt]!.name}) is younger than ${to.name}: a pull does not go back; nothing was changed`);
  }
  if (heldAt >= 0) {
    const delta = deltaFor(index, held!, to.image);
    if (delta) return { result: 'delta', from: held, to: to.image, ...delta };
  }
  const full = index.full.find((f) => f.to === to.image);
  if (!full) {
    throw notFound(`the source of ${index.volume} has no full copy of ${to.name}, and the version held is not one it has a delta from (${holdings(index)})`);
  }
  return { result: 'full', from: null, to: to.image, path: full.path, bytes: full.bytes };
}

function deltaFor(index: VersionsIndex, from: string, to: string): { path: string; bytes: number | null } | undefined {
  if (index.deltas === null) return { path: deltaPath(from, to), bytes: null };
  const listed = index.deltas.find((d) => d.from === from && d.to === to);
  return listed ? { path: listed.path, bytes: listed.bytes } : undefined;
}
