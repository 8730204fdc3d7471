// The delta between two images of a volume (FIG. 34/35, 39/40): checkpoint L and a
// younger checkpoint M, or the live volume as M. Data extents are the blocks in use
// in M that a checkpoint in L..M-1 saved or did not have in use; unused extents are
// the blocks in use in L and not in M. Both come from the kernels' meta-aware scan.

import { PagedBitmap } from '../arena/bitmap.js';
import { countDelta, type DeltaScanOptions, scanDelta } from '../arena/delta-scan.js';
import { SnapcopyError } from '../errors.js';
import { blockSizeOf, granularityOf, stepBlocks, type VolumeCore } from '../engine/core.js';
import type { Checkpoint } from './checkpoint.js';
import { readImage } from './read-path.js';

export type ExtentKind = 'data' | 'unused';

export interface DeltaExtent {
  kind: ExtentKind;
  start: number;
  count: number;
}

export interface DeltaChunk extends DeltaExtent {
  /** For data extents: count * blockSize bytes of M's image. */
  data?: Uint8Array;
}

export interface DeltaSize {
  dataBlocks: number;
  unusedBlocks: number;
  /** Bytes of block data the delta carries. */
  dataBytes: number;
}

/** The staged maps of one delta; `free` gives back what the plan made for itself. */
export interface DeltaPlan {
  /** null: the empty image (a full copy). */
  older: Checkpoint | null;
  newer: Checkpoint | null;
  data: DeltaScanOptions;
  unused: DeltaScanOptions;
  free(): void;
}

/**
 * Stages the maps delta(L, M) scans; M null is the live volume, L null the empty
 * image (nothing in use: every block in use in M is data).
 */
export interface PlanOptions {
  /**
   * A delta that also applies to any image between its two ends (replicas at different
   * sets): every block unused in M is sent as unused, not only those in use in L, so a
   * block that came into use after L and went out of use before M is cleared too.
   */
  coverBetween?: boolean;
}

export async function planDelta(
  core: VolumeCore, older: Checkpoint | null, newer: Checkpoint | null, options: PlanOptions = {},
): Promise<DeltaPlan> {
  if (!older) return planFull(core, newer);
  const from = core.checkpoints.indexOf(older);
  const to = newer ? core.checkpoints.indexOf(newer) : core.checkpoints.length;
  if (to <= from) {
    throw new SnapcopyError('ERR_NOT_YOUNGER',
      `${newer?.name ?? 'the live volume'} is not younger than ${older.name}: a delta goes from an older image to a younger one`);
  }
  // One image (a restore, a checkpoint of an unchanged volume, an import): nothing differs.
  const newerImage = newer ? newer.record.image : core.record.base;
  if (older.record.image === newerImage) return planEmpty(core, older, newer);
  const bitmaps = [];
  const metas = [];
  for (const c of core.checkpoints.slice(from, to)) {
    bitmaps.push((await c.maps()).bitmap);
    metas.push(await c.meta());
  }
  const g = granularityOf(core);
  const newerMeta = newer ? await newer.meta() : core.liveMeta;
  // Unused in M, in use in L: metaL & (0 | ~metaM), the same kernel over a map of zeros
  // (with coverBetween: all & ~metaM, every block unused in M).
  const none = PagedBitmap.create(core.arena, core.record.blocks);
  const all = options.coverBetween ? PagedBitmap.create(core.arena, newerMeta.bits) : undefined;
  all?.setRange(0, all.bits);
  return {
    older,
    newer,
    data: { bitmaps, meta: { metas, live: newerMeta, granularity: g } },
    unused: { bitmaps: [none], meta: { metas: [newerMeta], live: all ?? metas[0]!, granularity: g } },
    free: () => {
      none.free();
      all?.free();
    },
  };
}

/** The delta between two names of one image: metaM & (0 | ~metaM) and metaM & ~metaM, nothing. */
async function planEmpty(core: VolumeCore, older: Checkpoint, newer: Checkpoint | null): Promise<DeltaPlan> {
  const newerMeta = newer ? await newer.meta() : core.liveMeta;
  const none = PagedBitmap.create(core.arena, core.record.blocks);
  const g = granularityOf(core);
  const nothing = { bitmaps: [none], meta: { metas: [newerMeta], live: newerMeta, granularity: g } };
  return { older, newer, data: nothing, unused: nothing, free: () => none.free() };
}

/** delta(empty, M): metaM & (0 | ~nothing-in-use) = what M has in use. */
async function planFull(core: VolumeCore, newer: Checkpoint | null): Promise<DeltaPlan> {
  const newerMeta = newer ? await newer.meta() : core.liveMeta;
  const none = PagedBitmap.create(core.arena, core.record.blocks);
  const nothing = PagedBitmap.create(core.arena, newerMeta.bits);
  const g = granularityOf(core);
  return {
    older: null,
    newer,
    data: { bitmaps: [none], meta: { metas: [nothing], live: newerMeta, granularity: g } },
    unused: { bitmaps: [none], meta: { metas: [newerMeta], live: nothing, granularity: g } },
    free: () => {
      none.free();
      nothing.free();
    },
  };
}

/** The exact size of the delta, from the kernels' counts, before any data is read. */
export function deltaSize(core: VolumeCore, plan: DeltaPlan): DeltaSize {
  const dataBlocks = countDelta(plan.data);
  return { dataBlocks, unusedBlocks: countDelta(plan.unused), dataBytes: dataBlocks * blockSizeOf(core) };
}

/** Extents of one scan, one at a time. */
function* extentsOf(options: DeltaScanOptions, kind: ExtentKind): Generator<DeltaExtent> {
  for (const batch of scanDelta(options)) {
    for (let i = 0; i < batch.length; i += 2) yield { kind, start: batch[i]!, count: batch[i + 1]! };
  }
}

/** All extents of the delta in ascending block order (data and unused never overlap). */
export function* deltaExtents(plan: DeltaPlan): Generator<DeltaExtent> {
  const data = extentsOf(plan.data, 'data');
  const unused = extentsOf(plan.unused, 'unused');
  let d = data.next();
  let u = unused.next();
  while (!d.done || !u.done) {
    if (u.done || (!d.done && d.value.start < u.value.start)) {
      yield d.value as DeltaExtent;
      d = data.next();
    } else {
      yield u.value;
      u = unused.next();
    }
  }
}

/** The delta's extents cut into pieces of at most `step` blocks (data extents only are cut). */
function* pieces(plan: DeltaPlan, step: number): Generator<DeltaExtent> {
  for (const extent of deltaExtents(plan)) {
    if (extent.kind === 'unused') {
      yield extent;
      continue;
    }
    const end = extent.start + extent.count;
    for (let at = extent.start; at < end; at += step) yield { kind: 'data', start: at, count: Math.min(step, end - at) };
  }
}

export interface ChunkOptions {
  /**
   * Reuse one buffer for every chunk's data: a chunk's bytes are valid only until the
   * next chunk is asked for. Saves an allocation (and its page faults) per chunk.
   */
  transient?: boolean;
}

/**
 * The delta with M's data, in ascending block order: data extents come in pieces of
 * at most a few MiB, each read as one range of the volume file with saved blocks laid over.
 */
export async function* deltaChunks(core: VolumeCore, plan: DeltaPlan, options: ChunkOptions = {}): AsyncGenerator<DeltaChunk> {
  const step = stepBlocks(core);
  const buffer = options.transient ? new Uint8Array(step * blockSizeOf(core)) : undefined;
  // A checkpoint whose image the live volume still holds (a clone of the newest
  // checkpoint, an export after a restore) reads from the volume file alone.
  const newer = plan.newer && plan.newer.record.image === core.record.base ? null : plan.newer;
  for (const piece of pieces(plan, step)) {
    if (piece.kind === 'unused') yield piece;
    else yield { ...piece, data: await readImage(core, newer, piece.start, piece.count, buffer) };
  }
}
