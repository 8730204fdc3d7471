// The read path (FIG. 27): block b of checkpoint C is in C's save volume, else in the
// next younger one's, ..., else still in the volume; and it reads as zeros when C's
// meta bit map says it was not in use. The live volume reads its file under the live
// meta bit map. Ranges are read with one sequential read of the volume file, then the
// saved blocks are laid over it, runs of records at a time.
//
// An exporter reads many ranges of one image: openImage stages what they need once
// (the save volumes to lay over, the meta map; past the map cache's room the older ones
// folded into one layer, read-fold.ts), so readFrom costs per range only the read and
// the parts of the maps the range touches.

import type { PagedBitmap } from '../arena/bitmap.js';
import { deltaExtents } from '../arena/delta-scan.js';
import { isSparse } from '../arena/sparse-page.js';
import { blockSizeOf, granularityOf, type VolumeCore } from '../engine/core.js';
import { ONES_PAGE, PAGE_BLOCKS, PAGE_SHIFT, ZERO_PAGE } from '../kernels/api.js';
import { type Checkpoint, mapCacheOf, type StagedMaps } from './checkpoint.js';
import { foldLayers } from './read-fold.js';
import type { SaveLog } from './save-log.js';

/**
 * Before-images laid over the volume file: the blocks a layer holds, and for each the
 * save volume and record to read. A staged checkpoint is one layer; the older part of
 * a long interval is folded into one (read-fold.ts).
 */
export interface Layer {
  readonly bitmap: PagedBitmap;
  readonly logs: readonly SaveLog[];
  /** Index in `logs` of the save volume holding `block` (a block set in the bit map). */
  logOf(block: number): number;
  /** The record of `block` in that save volume. */
  recordOf(block: number): number;
}

/** One image's read sources, staged: valid while the volume's operation that made it runs. */
export interface ImageSource {
  readonly core: VolumeCore;
  /** Layered over the volume file, youngest first (the checkpoint's own last, so it wins). */
  readonly layers: readonly Layer[];
  readonly meta: PagedBitmap;
  readonly granularity: number;
  readonly blockSize: number;
  /** Frees what the source made for itself (a fold); staged maps stay the map cache's. */
  close(): Promise<void>;
}

/** A staged checkpoint's maps as a layer. */
function stagedLayer(maps: StagedMaps): Layer {
  return { bitmap: maps.bitmap, logs: [maps.log], logOf: () => 0, recordOf: (block) => maps.blockMap.get(block) };
}

/**
 * Stages the maps reads of checkpoint `ckpt`'s image (or the live volume's, when null)
 * need: every checkpoint from `ckpt` to the tail holds blocks of it. They are staged
 * youngest first while the map cache has room; the older rest is folded into one
 * layer (read-fold.ts), so a read of an old checkpoint holds the cap and the fold, not
 * the maps of every checkpoint younger than it. Close the source when done.
 */
export async function openImage(core: VolumeCore, ckpt: Checkpoint | null): Promise<ImageSource> {
  const image = { core, granularity: granularityOf(core), blockSize: blockSizeOf(core) };
  if (!ckpt) return { ...image, layers: [], meta: core.liveMeta, close: async () => undefined };
  const cache = mapCacheOf(core.arena);
  const from = core.checkpoints.indexOf(ckpt);
  const layers: Layer[] = [];
  let i = core.checkpoints.length - 1;
  for (; i >= from; i--) {
    const c = core.checkpoints[i]!;
    if (!c.staged && cache.stats().bytes >= cache.capBytes && i < core.checkpoints.length - 1) break;
    layers.push(stagedLayer(await c.maps()));
  }
  // The older rest, contiguous (so it overlays after every staged layer, as it is older), oldest first.
  const fold = i >= from ? await foldLayers(core, core.checkpoints.slice(from, i + 1)) : undefined;
  if (fold) layers.push(fold);
  try {
    return { ...image, layers, meta: await ckpt.meta(), close: async () => fold?.close() };
  } catch (error) {
    await fold?.close();
    throw error;
  }
}

/**
 * Whether bits [from, to) of `map` all equal `value`: whole pages from their page-table
 * entries, dense pages a 32-bit word at a time, so a range that is all one costs a few
 * compares per page.
 */
export function allBits(map: PagedBitmap, from: number, to: number, value: boolean): boolean {
  const same = value ? ONES_PAGE : ZERO_PAGE;
  const other = value ? ZERO_PAGE : ONES_PAGE;
  const full = value ? 0xffffffff : 0;
  for (let at = from; at < to;) {
    const page = at >>> PAGE_SHIFT;
    const end = Math.min(to, (page + 1) * PAGE_BLOCKS);
    const entry = map.entry(page);
    if (entry === other) return false;
    if (entry !== same) {
      if (isSparse(entry)) {
        for (let b = at; b < end; b++) if (map.get(b) !== value) return false;
      } else if (!denseAll(map.arena.u32, entry >>> 2, at - page * PAGE_BLOCKS, end - page * PAGE_BLOCKS, full)) {
        return false;
      }
    }
    at = end;
  }
  return true;
}

/** Whether bits [lo, hi) of the dense page at u32 index `base` are all set (full = ~0) or all clear (0). */
function denseAll(u32: Uint32Array, base: number, lo: number, hi: number, full: number): boolean {
  for (let bit = lo; bit < hi;) {
    const word = bit >>> 5;
    const first = bit & 31;
    const last = Math.min(32, hi - word * 32);
    const mask = last - first === 32 ? 0xffffffff : (((1 << (last - first)) - 1) << first) >>> 0;
    if (((u32[base + word]! ^ full) & mask) !== 0) return false;
    bit = word * 32 + last;
  }
  return true;
}

/** Lays the before-images that one layer holds for [start, start + count) over `bytes`. */
async function overlaySaved(layer: Layer, start: number, count: number, bytes: Uint8Array, size: number): Promise<void> {
  if (allBits(layer.bitmap, start, start + count, false)) return;
  const byLog = new Map<number, number[]>();
  for (const [first, length] of deltaExtents({ bitmaps: [layer.bitmap], from: start, to: start + count })) {
    for (let b = first; b < first + length; b++) {
      const l = layer.logOf(b);
      let list = byLog.get(l);
      if (!list) byLog.set(l, (list = []));
      list.push(layer.recordOf(b));
    }
  }
  for (const [l, list] of byLog) {
    list.sort((a, b) => a - b);
    for (let i = 0; i < list.length;) {
      let j = i + 1;
      while (j < list.length && list[j] === list[j - 1]! + 1) j++;
      const images = new Uint8Array((j - i) * size);
      const blocks = await layer.logs[l]!.readImages(list[i]!, j - i, images);
      blocks.forEach((b, r) => bytes.set(images.subarray(r * size, (r + 1) * size), (b - start) * size));
      i = j;
    }
  }
}

/** Zeroes the blocks of `bytes` whose granule is not in use in `meta`; nothing to do when all are. */
function zeroUnused(meta: PagedBitmap, g: number, start: number, count: number, bytes: Uint8Array, size: number): void {
  const first = start >>> g;
  const end = ((start + count - 1) >>> g) + 1;
  if (allBits(meta, first, end, true)) return;
  for (let granule = first; granule < end; granule++) {
    if (meta.get(granule)) continue;
    const lo = Math.max(start, granule << g);
    const hi = Math.min(start + count, (granule + 1) << g);
    bytes.fill(0, (lo - start) * size, (hi - start) * size);
  }
}

export interface ReadOptions {
  /** Read the volume file on the runtime's I/O threads (see BlockFile.readOffThread). */
  offThread?: boolean;
}

/**
 * Blocks [start, start + count) of the image `source` reads; into `into` when given
 * (count * blockSize bytes at least), else a new buffer. Reads of distinct buffers may
 * run at the same time: each lays its own save volumes over its own bytes.
 */
export async function readFrom(
  source: ImageSource, start: number, count: number, into?: Uint8Array, options: ReadOptions = {},
): Promise<Uint8Array> {
  const size = source.blockSize;
  const bytes = into ? into.subarray(0, count * size) : new Uint8Array(count * size);
  const data = source.core.data;
  if (options.offThread) await data.readOffThread(bytes, start * size);
  else await data.read(bytes, start * size);
  for (const layer of source.layers) await overlaySaved(layer, start, count, bytes, size);
  zeroUnused(source.meta, source.granularity, start, count, bytes, size);
  return bytes;
}

/**
 * Blocks [start, start + count) of checkpoint `ckpt`'s image, or of the live volume
 * when null; into `into` when given (count * blockSize bytes at least), else a new buffer.
 */
export async function readImage(
  core: VolumeCore, ckpt: Checkpoint | null, start: number, count: number, into?: Uint8Array,
): Promise<Uint8Array> {
  const source = await openImage(core, ckpt);
  try {
    return await readFrom(source, start, count, into);
  } finally {
    await source.close();
  }
}
