// Changes to the checkpoint queue: create (at the tail), delete (anywhere), restore.
// Each commits by replacing volume.json; what happens before the commit is harmless
// when a crash cuts it short, and what happens after is redone on open.

import { PagedBitmap } from '../arena/bitmap.js';
import { countDelta, scanDelta } from '../arena/delta-scan.js';
import { makeDir, removeTree, syncDir } from '../storage/file.js';
import { WriteBehind } from '../storage/write-behind.js';
import { blockSizeOf, granularityOf, stepBlocks, tailOf, type VolumeCore } from '../engine/core.js';
import { type CheckpointRecord, newId, volumePaths } from '../engine/layout.js';
import { commitRecord, compactLogIfPossible, foldLogBeforeUnlogged, foldLogIfBig } from '../engine/record.js';
import { Checkpoint } from './checkpoint.js';
import { encodeMap } from './map-file.js';
import { openImage, readFrom } from './read-path.js';
import { claimSpace, countBeforeImages, saveBeforeImages, writeMeta } from './write-path.js';

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

/**
 * Makes the live image equal to `ckpt`'s; safe to redo after a crash (pending.restore).
 * The space it needs is claimed before the commit, so a full disk changes nothing.
 */
export async function restoreCheckpoint(core: VolumeCore, ckpt: Checkpoint, onProgress?: (bytes: number, total: number) => void): Promise<void> {
  const saves = await claimRestoreSpace(core, ckpt);
  if (saves > 0) await tailOf(core)!.reserve(saves);
  await commitRecord(core, { ...core.record, pending: { ...core.record.pending, restore: ckpt.record.id } });
  await redoRestore(core, ckpt, onProgress);
  const { restore: _done, ...pending } = core.record.pending ?? {};
  await commitRecord(core, {
    ...core.record, base: ckpt.record.image, pending: Object.keys(pending).length ? pending : undefined,
  });
  await foldLogIfBig(core);
}

/**
 * The runs of blocks a restore to `ckpt` writes, at most a step long: blocks that may
 * differ from the checkpoint (saved since it, or not in use then) and that it had in use.
 */
async function* restoreRuns(core: VolumeCore, ckpt: Checkpoint): AsyncGenerator<{ start: number; count: number; total: number }> {
  const from = core.checkpoints.indexOf(ckpt);
  const bitmaps = [];
  const metas = [];
  for (const c of core.checkpoints.slice(from)) {
    bitmaps.push((await c.maps()).bitmap);
    metas.push(await c.meta());
  }
  const g = granularityOf(core);
  const inUse = allInUse(core);
  const target = await ckpt.meta();
  const step = stepBlocks(core);
  try {
    const scan = { bitmaps, meta: { metas, live: inUse, granularity: g } };
    const total = countDelta(scan);
    // Each batch is read through before the next is asked for: one buffer serves them all.
    for (const batch of scanDelta({ ...scan, reuse: true })) {
      for (let e = 0; e < batch.length; e += 2) {
        const end = batch[e]! + batch[e + 1]!;
        for (let b = batch[e]!; b < end;) {
          if (!target.get(b >>> g)) {
            b++;
            continue;
          }
          let r = b + 1;
          while (r < end && r - b < step && target.get(r >>> g)) r++;
          yield { start: b, count: r - b, total };
          b = r;
        }
      }
    }
  } finally {
    inUse.free();
  }
}

/** Claims the volume file space a restore to `ckpt` writes; returns how many before-images it may save. */
export async function claimRestoreSpace(core: VolumeCore, ckpt: Checkpoint): Promise<number> {
  let saves = 0;
  for await (const run of restoreRuns(core, ckpt)) {
    await claimSpace(core, run.start, run.count);
    saves += await countBeforeImages(core, run.start, run.count);
  }
  return saves;
}

/**
 * Writes the checkpoint's image back, without the write-ahead log: every before-image
 * first, synced once (they must be durable before a block is overwritten), then the
 * data, synced once; the meta map last, through the log. A crash anywhere is redone
 * from the checkpoint's image, which none of this changes.
 */
export async function redoRestore(
  core: VolumeCore, ckpt: Checkpoint, onProgress?: (bytes: number, total: number) => void,
): Promise<void> {
  try {
    await foldLogBeforeUnlogged(core);
    let saved = false;
    for await (const run of restoreRuns(core, ckpt)) saved = (await saveBeforeImages(core, run.start, run.count)) || saved;
    if (saved) await tailOf(core)!.syncSaved();
    const size = blockSizeOf(core);
    const buffer = new Uint8Array(stepBlocks(core) * size);
    // Flushed as it goes, so the disk writes while the next blocks are read and checked.
    const behind = new WriteBehind(core.data);
    // Opened once: only the tail takes before-images meanwhile, and it is always a staged layer, read live.
    const source = await openImage(core, ckpt);
    try {
      for await (const run of restoreRuns(core, ckpt)) {
        const image = await readFrom(source, run.start, run.count, buffer);
        await core.data.write(image, run.start * size);
        behind.wrote(image.length);
        onProgress?.(run.count * size, run.total * size);
      }
    } finally {
      await source.close();
    }
    await behind.settle();
    await core.data.sync();
  } catch (error) {
    core.failed ??= error;
    throw error;
  }
  // The map goes into the log whole: the record must replay even after the checkpoint is deleted.
  await writeMeta(core, [{ type: 'meta-restore', map: encodeMap(await ckpt.meta()) }]);
}
