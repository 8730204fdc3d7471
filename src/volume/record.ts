// Replacing volume.json: the one atomic step that commits a change to the queue.

import { writeFileAtomic } from '../storage/file.js';
import { encodeMap } from '../checkpoint/map-file.js';
import type { VolumeCore } from './core.js';
import { type VolumeRecord, volumePaths } from './layout.js';

export async function commitRecord(core: VolumeCore, next: VolumeRecord): Promise<void> {
  await writeFileAtomic(volumePaths(core.dir).record, `${JSON.stringify(next, null, 2)}\n`);
  core.record = next;
}

/**
 * Folds the write-ahead log into the files: the volume file and the save volumes are
 * made durable, the live meta map is written under the next generation, and the log
 * starts empty under it.
 */
export async function compactLog(core: VolumeCore): Promise<void> {
  const generation = core.wal.generation + 1;
  // What the log's records were applied to must be durable before the log goes:
  // the volume file, and the save volumes its before-images were appended to.
  await core.data.sync();
  for (const ckpt of core.checkpoints) await ckpt.syncSaved();
  await writeFileAtomic(volumePaths(core.dir).liveMeta, encodeMap(core.liveMeta, generation));
  try {
    await core.wal.reset(generation);
  } catch (error) {
    // The snapshot is ahead of the log: records appended now would be skipped on
    // open. Accept nothing more; reopening starts the log again from the snapshot.
    core.failed = error;
    throw error;
  }
}

/** Folds the log when it can; a failure before the snapshot changed nothing, so the operation that asked stands. */
export async function compactLogIfPossible(core: VolumeCore): Promise<void> {
  try {
    await compactLog(core);
  } catch (error) {
    if (core.failed) throw error;
  }
}
