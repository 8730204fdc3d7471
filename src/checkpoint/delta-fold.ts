// The maps a delta scans for its interval L..M-1, under the map cache's cap. The scan
// computes metaM & OR_I(bitmap_I | ~meta_I); OR is associative, so
//   OR_I(bitmap_I | ~meta_I) = (OR_I bitmap_I) | ~(AND_I meta_I),
// and any part of the interval can be folded into one accumulator bit map (the OR of
// its bit maps) and one accumulator meta map (the AND of its meta maps) with the same
// extents and counts. Checkpoints are staged through the cache (kept for the next
// operation) while it has room; past that they are folded, one at a time, from maps
// loaded for the fold and freed right after, so a delta across K checkpoints holds the
// cap plus two maps' worth, not K checkpoints' maps.

import { PagedBitmap } from '../arena/bitmap.js';
import type { VolumeCore } from '../engine/core.js';
import { type Checkpoint, mapCacheOf } from './checkpoint.js';

export interface FoldOptions {
  /** Checkpoints are staged through the map cache while it holds less than this many bytes; default its cap. */
  stageBytes?: number;
  /**
   * Checkpoints a plan stages whatever the cache holds; default 1, so the delta between
   * two neighbours (a replication cut) stages its checkpoint and the cache's least
   * recently used order keeps working when it is full.
   */
  stageAtLeast?: number;
}

/** The maps of an interval for the data scan: bit maps and meta maps in pairs, L's meta map, what to free. */
export interface IntervalMaps {
  bitmaps: PagedBitmap[];
  metas: PagedBitmap[];
  /** L's meta map (the unused scan reads it). */
  oldestMeta: PagedBitmap;
  /** Checkpoints folded into the accumulators (0: the plain plan). */
  folded: number;
  free(): void;
}

/** Maps the fold made or loaded, freed when the plan is. */
class Owned {
  readonly #maps: PagedBitmap[] = [];

  add(map: PagedBitmap): PagedBitmap {
    this.#maps.push(map);
    return map;
  }

  free(): void {
    for (const map of this.#maps.splice(0)) map.free();
  }
}

/** Stages or folds the maps of `interval` (checkpoints L..M-1, oldest first, at least one). */
export async function intervalMaps(core: VolumeCore, interval: readonly Checkpoint[], options: FoldOptions = {}): Promise<IntervalMaps> {
  const { staged, folding } = await stageWhileRoom(core, interval, options);
  const owned = new Owned();
  try {
    const bitmaps: PagedBitmap[] = [];
    const metas: PagedBitmap[] = [];
    for (const c of staged) {
      bitmaps.push((await c.maps()).bitmap);
      metas.push(await c.meta());
    }
    const oldest = interval[0]!;
    let oldestMeta = staged.includes(oldest) ? await oldest.meta() : undefined;
    if (folding.length > 0) {
      const fold = await foldMaps(core, folding, oldest, owned);
      bitmaps.push(fold.bitmap);
      metas.push(fold.meta);
      oldestMeta ??= fold.oldestMeta;
    }
    return { bitmaps, metas, oldestMeta: oldestMeta!, folded: folding.length, free: () => owned.free() };
  } catch (error) {
    owned.free();
    throw error;
  }
}

/**
 * Which checkpoints are staged (already, or now through the cache) and which are folded.
 * Youngest first: the next deltas (replication's cuts) are the ones that touch them again.
 */
async function stageWhileRoom(
  core: VolumeCore, interval: readonly Checkpoint[], options: FoldOptions,
): Promise<{ staged: Checkpoint[]; folding: Checkpoint[] }> {
  const cache = mapCacheOf(core.arena);
  const room = options.stageBytes ?? cache.capBytes;
  let atLeast = options.stageAtLeast ?? 1;
  const staged: Checkpoint[] = [];
  const folding: Checkpoint[] = [];
  for (let i = interval.length - 1; i >= 0; i--) {
    const c = interval[i]!;
    if (c.staged && c.metaStaged) staged.push(c);
    else if (atLeast > 0 || cache.stats().bytes < room) {
      await c.maps();
      await c.meta();
      staged.push(c);
      atLeast--;
    } else folding.push(c);
  }
  return { staged, folding };
}

/**
 * The OR of the bit maps and the AND of the meta maps of `folding`, one checkpoint at a
 * time; maps already staged are read in place, the others loaded and freed after their
 * merge (but L's meta map, which the unused scan needs: it is kept in `owned`).
 */
async function foldMaps(
  core: VolumeCore, folding: readonly Checkpoint[], oldest: Checkpoint, owned: Owned,
): Promise<{ bitmap: PagedBitmap; meta: PagedBitmap; oldestMeta: PagedBitmap | undefined }> {
  const bitmap = owned.add(PagedBitmap.create(core.arena, core.record.blocks, { sparse: true }));
  const meta = owned.add(PagedBitmap.create(core.arena, core.liveMeta.bits));
  meta.setRange(0, meta.bits);
  let oldestMeta: PagedBitmap | undefined;
  for (const c of folding) {
    // mergeFrom consumes what it merges: a staged bit map is merged from a copy.
    bitmap.mergeFrom(c.staged ? (await c.maps()).bitmap.clone() : await c.loadBitmap());
    if (c.metaStaged) {
      meta.andWith(await c.meta());
      if (c === oldest) oldestMeta = await c.meta();
      continue;
    }
    const loaded = await c.loadMeta();
    try {
      meta.andWith(loaded);
    } finally {
      if (c === oldest) oldestMeta = owned.add(loaded);
      else loaded.free();
    }
  }
  return { bitmap, meta, oldestMeta };
}
