// Resizing a volume. Growing adds blocks that read as zeros in the live volume and in
// every checkpoint (their granules are not in use anywhere); shrinking cuts blocks
// that are in use nowhere (not live, not in any checkpoint), so no image changes but
// for its length. volume.json is the commit point: before it, the log is folded (so
// replaying never meets blocks of the old size) and, to grow, the volume file is cut
// to its old end (what lies past it must read as zeros). After it, the files and maps
// are brought to the record's size; open does the same after a crash (idempotent).

import { deltaExtents } from '../arena/delta-scan.js';
import type { PagedBitmap } from '../arena/bitmap.js';
import { SnapcopyError } from '../errors.js';
import { ClaimedPages } from '../storage/file.js';
import { blockSizeOf, granularityOf, type VolumeCore } from './core.js';
import { commitRecord, compactLog } from './record.js';

/** The first set bit of `map` in [from, to), or -1 (found by the kernels' scan). */
function firstSet(map: PagedBitmap, from: number, to: number): number {
  if (from >= to) return -1;
  const extents = deltaExtents({ bitmaps: [map], from, to });
  return extents.length > 0 ? extents[0]![0] : -1;
}

/** Refuses a shrink to `blocks` when a block past it is in use live or in a checkpoint, naming the first. */
async function checkUnused(core: VolumeCore, blocks: number): Promise<void> {
  const g = granularityOf(core);
  const firstGranule = Math.floor(blocks / 2 ** g);
  const granules = core.liveMeta.bits;
  const where: Array<[string, PagedBitmap]> = [['the live volume', core.liveMeta]];
  for (const ckpt of core.checkpoints) where.push([`checkpoint ${ckpt.name}`, await ckpt.meta()]);
  for (const [name, meta] of where) {
    const granule = firstSet(meta, firstGranule, granules);
    if (granule < 0) continue;
    const block = Math.max(blocks, granule * 2 ** g);
    throw new SnapcopyError('ERR_IN_USE',
      `cannot shrink ${core.record.name} to ${blocks} blocks: block ${block} is in use in ${name}`);
  }
}

/** Makes the volume `blocks` blocks long (checked by the caller: positive, within the limit). */
export async function resizeVolume(core: VolumeCore, blocks: number): Promise<void> {
  const old = core.record.blocks;
  if (blocks === old) return;
  if (blocks < old) await checkUnused(core, blocks);
  await compactLog(core);
  if (blocks > old) {
    await core.data.truncate(old * blockSizeOf(core));
    await core.data.sync();
  }
  await commitRecord(core, { ...core.record, blocks });
  try {
    await bringToSize(core);
    // The live meta map at its new size, so open need not resize it again.
    await compactLog(core, { shrink: true });
    await core.checkpoints[core.checkpoints.length - 1]?.seal();
  } catch (error) {
    core.failed ??= error;
    throw error;
  }
}

/** Brings the volume file and the maps in memory to the record's size (after the commit, or on open). */
export async function bringToSize(core: VolumeCore): Promise<void> {
  const blocks = core.record.blocks;
  const bytes = blocks * blockSizeOf(core);
  if ((await core.data.size()) !== bytes) {
    await core.data.truncate(bytes);
    await core.data.sync();
  }
  core.claimed.forgetFrom(Math.floor(bytes / ClaimedPages.PAGE));
  core.liveMeta.resize(Math.ceil(blocks / 2 ** granularityOf(core)));
  for (const ckpt of core.checkpoints) ckpt.resize(blocks);
}
