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
 * starts empty under it; with `shrink`, cut back to its small fixed size.
 */
export async function compactLog(core: VolumeCore, options: { shrink?: boolean } = {}): Promise<void> {
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
  // The log is empty and valid whatever its size: giving space back may fail harmlessly.
  if (options.shrink) await core.wal.shrink().catch(() => undefined);
}

/** Folds the log when it can; a failure before the snapshot changed nothing, so the operation that asked stands. */
export async function compactLogIfPossible(core: VolumeCore, options: { shrink?: boolean } = {}): Promise<void> {
  try {
    await compactLog(core, options);
  } catch (error) {
    if (core.failed) throw error;
  }
}

/** A log this big after a big write, import or restore is folded and shrunk at once, not kept until close. */
const FOLD_AFTER_BYTES = 1 << 20;

/** Folds and shrinks the log when a big piece of work left it big (its space is given back). */
export async function foldLogIfBig(core: VolumeCore): Promise<void> {
  if (core.wal.bytes > FOLD_AFTER_BYTES) await compactLogIfPossible(core, { shrink: true });
}

/**
 * Folds the log before blocks are written around it (an import, a restore): a write
 * the log still holds would otherwise be replayed, after a crash, over the newer
 * bytes written without it.
 */
export async function foldLogBeforeUnlogged(core: VolumeCore): Promise<void> {
  if (core.wal.bytes > 0) await compactLog(core);
}
