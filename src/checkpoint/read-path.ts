// The read path (FIG. 27): block b of checkpoint C is in C's save volume, else in the
// next younger one's, ..., else still in the volume; and it reads as zeros when C's
// meta bit map says it was not in use. The live volume reads its file under the live
// meta bit map. Ranges are read with one sequential read of the volume file, then the
// saved blocks are laid over it, runs of records at a time.

import type { PagedBitmap } from '../arena/bitmap.js';
import { deltaExtents } from '../arena/delta-scan.js';
import { blockSizeOf, granularityOf, type VolumeCore } from '../engine/core.js';
import type { Checkpoint } from './checkpoint.js';

/** Blocks of [start, start + count) set in `bitmap`, found by the kernels' scan. */
function setBlocks(bitmap: PagedBitmap, start: number, count: number): Array<[number, number]> {
  return deltaExtents({ bitmaps: [bitmap], from: start, to: start + count });
}

/** Lays the before-images that checkpoint `ckpt` holds for [start, start + count) over `bytes`. */
async function overlaySaved(ckpt: Checkpoint, start: number, count: number, bytes: Uint8Array, size: number): Promise<void> {
  const maps = await ckpt.maps();
  const records: number[] = [];
  for (const [first, length] of setBlocks(maps.bitmap, start, count)) {
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

/** Zeroes the blocks of `bytes` whose granule is not in use in `meta`. */
function zeroUnused(meta: PagedBitmap, g: number, start: number, count: number, bytes: Uint8Array, size: number): void {
  for (let b = start; b < start + count; b++) {
    if (!meta.get(b >>> g)) bytes.fill(0, (b - start) * size, (b - start + 1) * size);
  }
}

/**
 * Blocks [start, start + count) of checkpoint `ckpt`'s image, or of the live volume
 * when null; into `into` when given (count * blockSize bytes at least), else a new buffer.
 */
export async function readImage(
  core: VolumeCore, ckpt: Checkpoint | null, start: number, count: number, into?: Uint8Array,
): Promise<Uint8Array> {
  const size = blockSizeOf(core);
  const bytes = into ? into.subarray(0, count * size) : new Uint8Array(count * size);
  await core.data.read(bytes, start * size);
  if (ckpt) {
    // Youngest first, so the checkpoint's own save volume is laid last and wins.
    const from = core.checkpoints.indexOf(ckpt);
    for (let i = core.checkpoints.length - 1; i >= from; i--) {
      await overlaySaved(core.checkpoints[i]!, start, count, bytes, size);
    }
  }
  zeroUnused(ckpt ? await ckpt.meta() : core.liveMeta, granularityOf(core), start, count, bytes, size);
  return bytes;
}
