// Changes to the checkpoint queue: create (at the tail), delete (anywhere), restore.
// Each commits by replacing volume.json; what happens before the commit is harmless
// when a crash cuts it short, and what happens after is redone on open.

import { PagedBitmap } from '../arena/bitmap.js';
import { countDelta, scanDelta } from '../arena/delta-scan.js';
import { makeDir, removeTree, syncDir } from '../storage/file.js';
import { blockSizeOf, granularityOf, stepBlocks, tailOf, type VolumeCore } from '../volume/core.js';
import { type CheckpointRecord, newId, volumePaths } from '../volume/layout.js';
import { commitRecord, compactLogIfPossible, foldLogIfBig } from '../volume/record.js';
import { Checkpoint } from './checkpoint.js';
import { encodeMap } from './map-file.js';
import { readImage } from './read-path.js';
import { writeBlocks, writeMeta } from './write-path.js';

export function geometryOf(core: VolumeCore) {
  const r = core.record;
  return { volume: r.uuid, blocks: r.blocks, blockSize: r.blockSize, granularity: r.granularity };
}

/** Freezes the live image as a new checkpoint at the tail of the queue. */
export async function createCheckpoint(core: VolumeCore, name: string, now: Date): Promise<Checkpoint> {
  const previous = tailOf(core);
  if (previous) await previous.seal();
  const id = newId();
  const record: CheckpointRecord = {
    id, seq: core.record.nextSeq, name, created: now.toISOString(), image: core.record.base ?? id,
  };
  const ckptDir = volumePaths(core.dir).checkpoints;
  await makeDir(`${ckptDir}/${id}`);
  await syncDir(ckptDir);
  const ckpt = await Checkpoint.create(record, core.dir, geometryOf(core), core.arena, core.liveMeta);
  await commitRecord(core, {
    ...core.record, nextSeq: record.seq + 1, checkpoints: [...core.record.checkpoints, record], base: record.image,
  });
  core.checkpoints.push(ckpt);
  await compactLogIfPossible(core);
  return ckpt;
}

/**
 * Deletes a checkpoint. Its older neighbour takes the before-images it lacks (they
 * are its own before-images too: the block did not change between the two) and ORs
 * the bit map in with the kernels' merge, so every other image stays exact.
 */
export async function deleteCheckpoint(core: VolumeCore, ckpt: Checkpoint): Promise<void> {
  const index = core.checkpoints.indexOf(ckpt);
  const older = core.checkpoints[index - 1];
  if (older) await mergeInto(core, ckpt, older);
  await commitRecord(core, { ...core.record, checkpoints: core.record.checkpoints.filter((r) => r.id !== ckpt.record.id) });
  core.checkpoints.splice(index, 1);
  await ckpt.unload();
  await removeTree(ckpt.paths.dir);
}

async function mergeInto(core: VolumeCore, gone: Checkpoint, older: Checkpoint): Promise<void> {
  const from = await gone.maps();
  const into = await older.maps();
  const lacking: number[] = [];
  from.recordBlocks.forEach((block, index) => {
    // Only what the bit map says is saved: not before-images of blocks a shrink cut off.
    if (block < from.bitmap.bits && from.bitmap.get(block) && !into.bitmap.get(block)) lacking.push(index);
  });
  const size = blockSizeOf(core);
  const step = stepBlocks(core);
  for (let i = 0; i < lacking.length;) {
    // A run of consecutive records, read at once.
    let j = i + 1;
    while (j < lacking.length && j - i < step && lacking[j] === lacking[j - 1]! + 1) j++;
    const images = new Uint8Array((j - i) * size);
    const blocks = await from.log.readImages(lacking[i]!, j - i, images);
    await older.save(Array.from(blocks), images, { setBits: false });
    i = j;
  }
  await into.log.sync();
  into.bitmap.mergeFrom(from.bitmap.clone());
  await older.seal();
}

/** A meta map with every granule in use: the younger side of a restore's scan. */
function allInUse(core: VolumeCore): PagedBitmap {
  const map = PagedBitmap.create(core.arena, core.liveMeta.bits);
  map.setRange(0, map.bits);
  return map;
}

/** Makes the live image equal to `ckpt`'s; safe to redo after a crash (pending.restore). */
export async function restoreCheckpoint(core: VolumeCore, ckpt: Checkpoint, onProgress?: (bytes: number, total: number) => void): Promise<void> {
  await commitRecord(core, { ...core.record, pending: { ...core.record.pending, restore: ckpt.record.id } });
  await redoRestore(core, ckpt, onProgress);
  const { restore: _done, ...pending } = core.record.pending ?? {};
  await commitRecord(core, {
    ...core.record, base: ckpt.record.image, pending: Object.keys(pending).length ? pending : undefined,
  });
  await foldLogIfBig(core);
}

export async function redoRestore(
  core: VolumeCore, ckpt: Checkpoint, onProgress?: (bytes: number, total: number) => void,
): Promise<void> {
  const from = core.checkpoints.indexOf(ckpt);
  const queue = core.checkpoints.slice(from);
  const bitmaps = [];
  const metas = [];
  for (const c of queue) {
    bitmaps.push((await c.maps()).bitmap);
    metas.push(await c.meta());
  }
  const g = granularityOf(core);
  const inUse = allInUse(core);
  const target = await ckpt.meta();
  const step = stepBlocks(core);
  try {
    // Every block that may differ from the checkpoint: saved since it, or not in use then.
    const scan = { bitmaps, meta: { metas, live: inUse, granularity: g } };
    const total = countDelta(scan) * blockSizeOf(core);
    for (const batch of scanDelta(scan)) {
      for (let e = 0; e < batch.length; e += 2) {
        const end = batch[e]! + batch[e + 1]!;
        for (let at = batch[e]!; at < end; at += step) {
          const n = Math.min(step, end - at);
          await writeInUse(core, ckpt, target, at, n);
          onProgress?.(n * blockSizeOf(core), total);
        }
      }
    }
  } finally {
    inUse.free();
  }
  // The map goes into the log whole: the record must replay even after the checkpoint is deleted.
  await writeMeta(core, [{ type: 'meta-restore', map: encodeMap(target) }]);
}

/** Writes the checkpoint's content of the blocks of [start, start + n) it had in use. */
async function writeInUse(core: VolumeCore, ckpt: Checkpoint, meta: PagedBitmap, start: number, n: number): Promise<void> {
  const g = granularityOf(core);
  const image = await readImage(core, ckpt, start, n);
  const size = blockSizeOf(core);
  for (let b = start; b < start + n;) {
    if (!meta.get(b >>> g)) {
      b++;
      continue;
    }
    let e = b + 1;
    while (e < start + n && meta.get(e >>> g)) e++;
    await writeBlocks(core, b, e - b, image.subarray((b - start) * size, (e - start) * size));
    b = e;
  }
}
