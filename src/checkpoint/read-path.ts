// The read path (FIG. 27): block b of checkpoint C is in C's save volume, else in the
// next younger one's, ..., else still in the volume; and it reads as zeros when C's
// meta bit map says it was not in use. The live volume reads its file under the live
// meta bit map. Ranges are read with one sequential read of the volume file, then the
// saved blocks are laid over it, runs of records at a time.
//
// An exporter reads many ranges of one image: openImage stages what they need once
// (the save volumes to lay over, the meta map), so readFrom costs per range only the
// read and the parts of the maps the range touches.

import type { PagedBitmap } from '../arena/bitmap.js';
import { deltaExtents } from '../arena/delta-scan.js';
import { isSparse } from '../arena/sparse-page.js';
import { blockSizeOf, granularityOf, type VolumeCore } from '../engine/core.js';
import { ONES_PAGE, PAGE_BLOCKS, PAGE_SHIFT, ZERO_PAGE } from '../kernels/api.js';
import type { Checkpoint, StagedMaps } from './checkpoint.js';

/** One image's read sources, staged: valid while the volume's operation that made it runs. */
export interface ImageSource {
  readonly core: VolumeCore;
  /** Save volumes laid over the volume file, youngest first (the checkpoint's own last, so it wins). */
  readonly layers: readonly StagedMaps[];
  readonly meta: PagedBitmap;
  readonly granularity: number;
  readonly blockSize: number;
}

/** Stages the maps reads of checkpoint `ckpt`'s image (or the live volume's, when null) need. */
export async function openImage(core: VolumeCore, ckpt: Checkpoint | null): Promise<ImageSource> {
  const layers: StagedMaps[] = [];
  if (ckpt) {
    const from = core.checkpoints.indexOf(ckpt);
    for (let i = core.checkpoints.length - 1; i >= from; i--) layers.push(await core.checkpoints[i]!.maps());
  }
  const meta = ckpt ? await ckpt.meta() : core.liveMeta;
  return { core, layers, meta, granularity: granularityOf(core), blockSize: blockSizeOf(core) };
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

/** Lays the before-images that one save volume holds for [start, start + count) over `bytes`. */
async function overlaySaved(maps: StagedMaps, start: number, count: number, bytes: Uint8Array, size: number): Promise<void> {
  if (allBits(maps.bitmap, start, start + count, false)) return;
  const records: number[] = [];
  for (const [first, length] of deltaExtents({ bitmaps: [maps.bitmap], from: start, to: start + count })) {
    for (let b = first; b < first + length; b++) records.push(maps.blockMap.get(b));
  }
  records.sort((a, b) => a - b);
  for (let i = 0; i < records.length;) {
    let j = i + 1;
    while (j < records.length && records[j] === records[j - 1]! + 1) j++;
    const images = new Uint8Array((j - i) * size);
    const blocks = await maps.log.readImages(records[i]!, j - i, images);
    blocks.forEach((b, r) => bytes.set(images.subarray(r * size, (r + 1) * size), (b - start) * size));
    i = j;
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
  return readFrom(await openImage(core, ckpt), start, count, into);
}
