// Two sides of a replication compared, at any stage (replicating, failed over, resynced,
// failed back): the newest image both hold, the exact blocks either changed since it
// (their union is what differs), and what each wrote since they parted (lineage.ts).
// Works on what each side can show of itself (SideView), so the node asking needs only
// the other side's view and its extents, both over the node API.

import type { DeltaExtent } from '../checkpoint/delta.js';
import { divergence, type Divergence, generationName, type Lineage, partingImages, relate } from './lineage.js';

/** What a side shows of its volume: its lineage, its checkpoints (oldest first) and the image it equals. */
export interface SideView {
  lineage: Lineage | null;
  checkpoints: { name: string; image: string }[];
  base: string | null;
}

/** How to read one side's extents changed since one of its checkpoints (up to its live state). */
export type ExtentsSince = (checkpoint: string) => Promise<AsyncIterable<DeltaExtent>>;

export interface SidesReport {
  /** Blocks that differ between the two sides: the union of what each changed since `common`. */
  differingBlocks: number;
  /** The newest image both hold, where the count starts (null: none; every block is counted). */
  common: string | null;
  generations: { local: string | null; remote: string | null };
  divergence: Divergence | null;
}

/** Whether a side holds `image`: as a checkpoint (its name) or as its live state ('live'). */
function holding(view: SideView, image: string): string | 'live' | null {
  if (view.base === image) return 'live';
  return view.checkpoints.findLast((c) => c.image === image)?.name ?? null;
}

/** The newest image of the local side that the remote side holds too (or `prefer`, if both hold it). */
export function commonImage(local: SideView, remote: SideView, prefer?: string): string | null {
  if (prefer && holding(local, prefer) && holding(remote, prefer)) return prefer;
  const images = [...local.checkpoints.map((c) => c.image), ...(local.base ? [local.base] : [])];
  return images.findLast((image) => holding(remote, image) !== null) ?? null;
}

/** A side's extents changed since `image` (none if it still equals it; null if it no longer holds it). */
async function changedSince(view: SideView, image: string, extents: ExtentsSince): Promise<DeltaExtent[] | null> {
  const at = holding(view, image);
  if (at === null) return null;
  if (at === 'live') return [];
  const out: DeltaExtent[] = [];
  for await (const e of await extents(at)) out.push(e);
  return out;
}

const blocksOf = (extents: DeltaExtent[]): number => extents.reduce((n, e) => n + e.count, 0);

/** Blocks in the union of two sorted extent lists. */
export function unionBlocks(a: readonly DeltaExtent[], b: readonly DeltaExtent[]): number {
  const all = [...a, ...b].sort((x, y) => x.start - y.start);
  let total = 0;
  let end = -1;
  for (const e of all) {
    const from = Math.max(e.start, end);
    const to = e.start + e.count;
    if (to > from) total += to - from;
    end = Math.max(end, to);
  }
  return total;
}

/** Compares the two sides; `blocks` is the volume's size in blocks (all differ when nothing is shared). */
export async function compareSides(
  local: SideView, remote: SideView, reads: { local: ExtentsSince; remote: ExtentsSince }, blocks: number,
): Promise<SidesReport> {
  const relation = local.lineage && remote.lineage ? relate(local.lineage, remote.lineage) : null;
  const parting = relation ? partingImages(relation) : null;
  let verdict: Divergence | null = null;
  if (relation) {
    const wrote = async (view: SideView, image: string | undefined, read: ExtentsSince) => {
      if (!image) return 0;
      const changed = await changedSince(view, image, read);
      return changed === null ? null : blocksOf(changed);
    };
    verdict = divergence(relation, {
      local: await wrote(local, parting?.local, reads.local),
      remote: await wrote(remote, parting?.remote, reads.remote),
    });
  }
  const common = commonImage(local, remote, parting && parting.local === parting.remote ? parting.local : undefined);
  let differingBlocks = blocks;
  if (common) {
    const mine = await changedSince(local, common, reads.local);
    const theirs = await changedSince(remote, common, reads.remote);
    if (mine && theirs) differingBlocks = unionBlocks(mine, theirs);
  }
  return {
    differingBlocks,
    common,
    generations: {
      local: local.lineage ? generationName(local.lineage.current) : null,
      remote: remote.lineage ? generationName(remote.lineage.current) : null,
    },
    divergence: verdict,
  };
}
