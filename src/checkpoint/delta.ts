// The delta between two images of a volume (FIG. 34/35, 39/40): checkpoint L and a
// younger checkpoint M, or the live volume as M. Data extents are the blocks in use
// in M that a checkpoint in L..M-1 saved or did not have in use; unused extents are
// the blocks in use in L and not in M. Both come from the kernels' meta-aware scan.

import { PagedBitmap } from '../arena/bitmap.js';
import { countDelta, type DeltaScanOptions, scanDelta } from '../arena/delta-scan.js';
import { SnapcopyError } from '../errors.js';
import { blockSizeOf, granularityOf, stepBlocks, type VolumeCore } from '../engine/core.js';
import { lendChecksumBuffers, returnChecksumBuffers } from '../storage/checksum.js';
import type { Checkpoint } from './checkpoint.js';
import { type FoldOptions, intervalMaps } from './delta-fold.js';
import { readAhead } from './read-ahead.js';
import { openImage, readFrom } from './read-path.js';

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
  /** When the interval's maps are staged and when folded (src/checkpoint/delta-fold.ts). */
  fold?: FoldOptions;
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
  const g = granularityOf(core);
  const newerMeta = newer ? await newer.meta() : core.liveMeta;
  // Past the map cache's room, the interval's maps fold into one OR'd bit map and one
  // AND'ed meta map (delta-fold.ts): the same extents, in memory that does not grow with K.
  const interval = await intervalMaps(core, core.checkpoints.slice(from, to), options.fold);
  // Unused in M, in use in L: metaL & (0 | ~metaM), the same kernel over a map of zeros
  // (with coverBetween: all & ~metaM, every block unused in M).
  const none = PagedBitmap.create(core.arena, core.record.blocks);
  const all = options.coverBetween ? PagedBitmap.create(core.arena, newerMeta.bits) : undefined;
  all?.setRange(0, all.bits);
  return {
    older,
    newer,
    data: { bitmaps: interval.bitmaps, meta: { metas: interval.metas, live: newerMeta, granularity: g } },
    unused: { bitmaps: [none], meta: { metas: [newerMeta], live: all ?? interval.oldestMeta, granularity: g } },
    free: () => {
      none.free();
      all?.free();
      interval.free();
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

/** Extents of one scan, one at a time (each batch read through before the next is asked for). */
function* extentsOf(options: DeltaScanOptions, kind: ExtentKind): Generator<DeltaExtent> {
  for (const batch of scanDelta({ ...options, reuse: true })) {
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
   * Reuse buffers for the chunks' data: a chunk's bytes are valid only until the
   * next chunk is asked for. Saves an allocation (and its page faults) per chunk.
   */
  transient?: boolean;
}

/** Reads of the volume file kept in flight ahead of the consumer (libuv runs 4 I/O threads by default). */
const READ_AHEAD = 4;
/**
 * Data pieces this close (and within one step) are read as one range: reading the gap
 * from the page cache costs less than one more read's thread hop.
 */
const COALESCE_GAP_BYTES = 64 << 10;

/** Pieces read together: the data pieces within blocks [start, start + count), and the unused pieces among them. */
interface ReadGroup {
  start: number;
  /** 0: unused pieces only, nothing to read. */
  count: number;
  pieces: DeltaExtent[];
}

/** Consecutive pieces in groups whose data spans at most `step` blocks with gaps of at most `gap` blocks. */
function* readGroups(pieces: Iterable<DeltaExtent>, step: number, gap: number): Generator<ReadGroup> {
  let group: ReadGroup | undefined;
  for (const piece of pieces) {
    if (piece.kind === 'data') {
      const end = piece.start + piece.count;
      if (group && group.count === 0) {
        group.start = piece.start;
        group.count = piece.count;
      } else if (group && piece.start - (group.start + group.count) <= gap && end - group.start <= step) {
        group.count = end - group.start;
      } else {
        if (group) yield group;
        group = { start: piece.start, count: piece.count, pieces: [] };
      }
    }
    group ??= { start: 0, count: 0, pieces: [] };
    group.pieces.push(piece);
  }
  if (group) yield group;
}

/**
 * The delta with M's data, in ascending block order: data extents come in pieces of
 * at most a few MiB, each read as one range of the volume file with saved blocks laid
 * over, several ranges ahead of the consumer (read-ahead.ts).
 */
export async function* deltaChunks(core: VolumeCore, plan: DeltaPlan, options: ChunkOptions = {}): AsyncGenerator<DeltaChunk> {
  const step = stepBlocks(core);
  const size = blockSizeOf(core);
  // A checkpoint whose image the live volume still holds (a clone of the newest
  // checkpoint, an export after a restore) reads from the volume file alone.
  const newer = plan.newer && plan.newer.record.image === core.record.base ? null : plan.newer;
  const source = await openImage(core, newer);
  let lent: Uint8Array[] | undefined;
  try {
    // Chunks that own their bytes each get a buffer of their own, so none are read together.
    const gap = options.transient ? Math.floor(COALESCE_GAP_BYTES / size) : 0;
    const read = async (group: ReadGroup, into: Uint8Array | undefined) => ({
      group,
      bytes: group.count > 0 ? await readFrom(source, group.start, group.count, into, { offThread: true }) : undefined,
    });
    const groups = readGroups(pieces(plan, step), step, gap);
    // A transient ring lives in the checksum kernels' memory where it can, so the records' sums need no copy.
    lent = options.transient ? lendChecksumBuffers(READ_AHEAD + 1, step * size) : undefined;
    const ahead = { depth: READ_AHEAD, ring: lent, ringBytes: options.transient ? step * size : undefined };
    for await (const { group, bytes } of readAhead(groups, read, ahead)) {
      for (const piece of group.pieces) {
        if (piece.kind === 'unused') {
          yield piece;
          continue;
        }
        const at = (piece.start - group.start) * size;
        yield { ...piece, data: bytes!.subarray(at, at + piece.count * size) };
      }
    }
  } finally {
    if (lent) returnChecksumBuffers(lent);
    await source.close();
  }
}
