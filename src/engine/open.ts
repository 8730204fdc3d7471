// Creating a volume's files, and opening them again: the write-ahead log is replayed
// over the last live meta snapshot, the tail's maps are rebuilt from its save volume,
// stray files of uncommitted work are removed, and pending work is finished.

import { PagedBitmap } from '../arena/bitmap.js';
import type { Arena } from '../arena/arena.js';
import { Checkpoint } from '../checkpoint/checkpoint.js';
import { decodeMap, encodeMap } from '../checkpoint/map-file.js';
import { redoImport } from '../checkpoint/import.js';
import { abandonStage } from '../checkpoint/import-overwrite.js';
import { geometryOf, redoRestore } from '../checkpoint/queue.js';
import { applyRecord } from '../checkpoint/write-path.js';
import { corrupt } from '../errors.js';
import {
  ClaimedPages, exists, listDir, makeDir, openFile, readFileOrUndefined, removeFile, removeTree, syncDir, writeFileAtomic,
} from '../storage/file.js';
import { encodeNewHoleMap, HoleAwareFile, HoleMap } from '../storage/hole-map.js';
import type { VolumeCore } from './core.js';
import { type VolumeRecord, volumePaths } from './layout.js';
import { commitRecord } from './record.js';
import { bringToSize } from './resize.js';
import { applyStagedWrite, writeStagePath } from './staged-write.js';
import { Wal } from './wal.js';

export function metaBits(record: Pick<VolumeRecord, 'blocks' | 'granularity'>): number {
  return Math.ceil(record.blocks / 2 ** record.granularity);
}

/** Writes the files of a new, empty volume; volume.json last, so a crash leaves no half volume. */
export async function createVolumeFiles(dir: string, record: VolumeRecord, arena: Arena): Promise<void> {
  const paths = volumePaths(dir);
  await makeDir(paths.checkpoints);
  const data = await openFile(paths.data, { create: true });
  // Emptied first (the caller clears what a crashed creation left, but the hole map
  // below promises zeros, so this does not rely on it). Sparse: costs nothing until written.
  await data.truncate(0);
  await data.truncate(record.blocks * record.blockSize);
  await data.sync();
  await data.close();
  await writeFileAtomic(paths.holes, encodeNewHoleMap(record.blocks * record.blockSize));
  const meta = PagedBitmap.create(arena, metaBits(record));
  await writeFileAtomic(paths.liveMeta, encodeMap(meta, 0));
  meta.free();
  await (await Wal.create(paths.wal, 0)).close();
  await writeFileAtomic(paths.record, `${JSON.stringify(record, null, 2)}\n`);
  await syncDir(dir);
}

async function readRecord(dir: string): Promise<VolumeRecord> {
  const bytes = await readFileOrUndefined(volumePaths(dir).record);
  if (!bytes) throw corrupt(`${dir} has no volume.json`);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as VolumeRecord;
  } catch {
    throw corrupt(`${volumePaths(dir).record} is not valid JSON`);
  }
}

async function loadLiveMeta(dir: string, record: VolumeRecord, arena: Arena): Promise<{ meta: PagedBitmap; generation: number }> {
  const path = volumePaths(dir).liveMeta;
  const bytes = await readFileOrUndefined(path);
  if (!bytes) throw corrupt(`${path} is missing`);
  const { map, extra } = decodeMap(arena, bytes, path);
  // A resize committed before the map was written again: the map follows the record.
  map.resize(metaBits(record));
  return { meta: map, generation: extra };
}

/** Checkpoint directories that volume.json does not name are left from a crash before a commit. */
async function removeStrayCheckpoints(dir: string, record: VolumeRecord): Promise<void> {
  const known = new Set(record.checkpoints.map((c) => c.id));
  for (const entry of await listDir(volumePaths(dir).checkpoints)) {
    if (!known.has(entry)) await removeTree(`${volumePaths(dir).checkpoints}/${entry}`);
  }
}

export async function openVolumeCore(dir: string, arena: Arena): Promise<VolumeCore> {
  const record = await readRecord(dir);
  const paths = volumePaths(dir);
  await removeStrayCheckpoints(dir, record);
  const { meta, generation } = await loadLiveMeta(dir, record, arena);
  const data = new HoleAwareFile(await openFile(paths.data), await HoleMap.load((await exists(paths.holes)) ? await openFile(paths.holes) : undefined));
  const core: VolumeCore = {
    dir, record, arena, data, wal: undefined as unknown as Wal, liveMeta: meta, checkpoints: [], claimed: new ClaimedPages(),
  };
  core.checkpoints = record.checkpoints.map((r) => new Checkpoint(r, dir, geometryOf(core), arena));
  await bringToSize(core);
  // Records of an older generation are already in the snapshot: replay only the current one.
  core.wal = await Wal.open(paths.wal, async (walRecord, walGeneration) => {
    if (walGeneration === generation) await applyRecord(core, walRecord);
  });
  if (core.wal.generation !== generation) await core.wal.reset(generation);
  const tail = core.checkpoints[core.checkpoints.length - 1];
  if (tail) await tail.maps();
  await finishPending(core);
  return core;
}

async function finishPending(core: VolumeCore): Promise<void> {
  // A write commits by naming its durable stage; a stage it does not name is what a crash while staging left.
  const write = core.record.pending?.write;
  if (write) await applyStagedWrite(core, write);
  else await removeFile(writeStagePath(core.dir));
  const pending = core.record.pending;
  // A stage without a committed import is what a crash while staging left: blocks it
  // overwrote in place get their before-images back before anything else is redone.
  if (!pending?.import) await abandonStage(core);
  if (!pending) return;
  if (pending.restore) {
    const ckpt = core.checkpoints.find((c) => c.record.id === pending.restore);
    if (ckpt) await redoRestore(core, ckpt);
    // A rollback import (restore, then the stream) keeps its import pending past the restore.
    const rest = pending.import ? { import: pending.import } : undefined;
    await commitRecord(core, { ...core.record, base: ckpt?.record.image ?? null, pending: rest });
  }
  if (pending.import) {
    // An import commits by naming its verified stage; without the stage it never committed.
    await redoImport(core, pending.import.to);
  }
  await removeFile(volumePaths(core.dir).stage);
}
