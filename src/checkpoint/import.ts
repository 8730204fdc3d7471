// import-diff: applies a delta stream to a volume whose image is the stream's base.
// The whole stream is checked while it is copied to a stage file; only a stream that
// checks out is committed (volume.json names the stage), then applied from the stage.
// A torn or corrupt stream never gets past the check, so the volume is untouched;
// a crash after the commit is finished on open, from the stage.
//
// Speed (a plain write plus one fdatasync is the bar): blocks not in use in the volume
// (a clone, a first full copy, new blocks) are written in place while the stream is
// staged: they read as zeros until the commit sets their meta bits, and a checkpoint
// that needs their old content gets it saved first, so a failed import leaves nothing
// a reader can see. Blocks in use whose before-images the tail's checkpoint needs (a
// replica's next set) are also written in place, after those before-images, which undo
// them if the import does not commit (import-overwrite.ts). Everything else goes through
// the stage and is applied without the write-ahead log: all before-images first, synced
// once, then the data, synced once, then the meta bit changes through the log. The space
// the apply needs is claimed before the commit, so a full disk fails the import while
// it still changes nothing.

import { SnapcopyError } from '../errors.js';
import { type BlockFile, openFile, openFileReadOnly, removeFile } from '../storage/file.js';
import { WriteBehind } from '../storage/write-behind.js';
import { blockSizeOf, granularityOf, stepBlocks, tailOf, type VolumeCore } from '../engine/core.js';
import { volumePaths } from '../engine/layout.js';
import { commitRecord, foldLogBeforeUnlogged, foldLogIfBig } from '../engine/record.js';
import type { Checkpoint } from './checkpoint.js';
import { type DeltaHeader, type StreamEvent, type StreamRecord, StreamReader } from './delta-stream.js';
import { readStageInfo, type StageExtent, stageExtents, StageWriter } from './import-stage.js';
import { Overwrites, type Undo, undoable, undoOverwrites, undoPoint } from './import-overwrite.js';
import { claimRestoreSpace, redoRestore } from './queue.js';
import type { WalRecord } from '../engine/wal.js';
import { claimSpace, countBeforeImages, saveBeforeImages, writeBlocksUnlogged, writeMeta } from './write-path.js';

/**
 * A delta already decoded (a clone: a checkpoint's blocks read straight from its
 * volume, no stream in between). With `transient`, a record's data is valid only until
 * the next is asked for; such records are never held back (no overwrites in place).
 */
export interface DeltaRecords {
  header: DeltaHeader;
  records: AsyncIterable<StreamRecord>;
  transient?: boolean;
}

export interface ImportResult {
  header: DeltaHeader;
  dataBlocks: number;
  unusedBlocks: number;
}

/** Refuses a stream made for another geometry. */
export function checkGeometry(core: VolumeCore, header: DeltaHeader): void {
  const r = core.record;
  if (header.blockSize !== r.blockSize || header.blocks !== r.blocks || header.granularity !== r.granularity) {
    throw new SnapcopyError('ERR_INVALID_ARGUMENT',
      `the stream is for ${header.blocks} blocks of ${header.blockSize} bytes at granularity ${header.granularity}; `
      + `${r.name} has ${r.blocks} of ${r.blockSize} at ${r.granularity}`);
  }
}

/**
 * Refuses a stream that does not fit this volume or does not start from its image
 * (or from `base`, the image a rollback restores first). The volume layer says the
 * same in words a user can act on before it gets here; this is the last guard.
 */
export function checkFits(core: VolumeCore, header: DeltaHeader, base: string | null = core.record.base): void {
  const r = core.record;
  checkGeometry(core, header);
  if (base !== header.from.id) {
    throw new SnapcopyError('ERR_WRONG_BASE',
      `the stream applies to image ${header.from.id} (${header.from.name}); ${r.name} `
      + (base ? `holds image ${base}` : 'has changed since its last known image'));
  }
}

/** Whether no block of [start, start + count) is in use: then it can be written before the commit. */
function notInUse(core: VolumeCore, start: number, count: number): boolean {
  const span = granules(core, start, count);
  for (let q = span.start; q < span.start + span.count; q++) if (core.liveMeta.get(q)) return false;
  return true;
}

/**
 * Stages one checked record, or writes it in place (`overwrites`, when given, takes
 * blocks in use whose before-images undo it); returns whether it went in place.
 */
async function stageRecord(
  core: VolumeCore, writer: StageWriter, record: StreamRecord, inPlace: boolean, overwrites: Overwrites | undefined,
  behind: WriteBehind,
): Promise<boolean> {
  if (record.kind === 'unused') {
    await writer.add('unused', record.start, record.count);
    return false;
  }
  if (inPlace && notInUse(core, record.start, record.count)) {
    await writeBlocksUnlogged(core, record.start, record.count, record.data!);
    behind.wrote(record.data!.length);
    await writer.add('written', record.start, record.count);
    return true;
  }
  if (overwrites && await undoable(core, record.start, record.count)) {
    await writer.add('overwritten', record.start, record.count);
    await overwrites.add(record);
    return true;
  }
  await writer.add('staged', record.start, record.count, record.data!);
  return false;
}

/**
 * The events of a stream, each checked as it is read (the trailer last: a stream that ends
 * early throws). Records are transient (views, no copy per record): each is done with
 * before the next chunk is asked for (staged and in-place writes are awaited; Overwrites
 * copies what it holds back).
 */
async function* streamEvents(source: AsyncIterable<Uint8Array>): AsyncGenerator<StreamEvent> {
  const reader = new StreamReader({ transient: true });
  for await (const chunk of source) yield* reader.push(chunk);
  reader.end();
}

async function* recordEvents(source: DeltaRecords): AsyncGenerator<StreamEvent> {
  yield { type: 'header', header: source.header };
  for await (const record of source.records) yield { type: 'record', record };
}

const isRecords = (source: AsyncIterable<Uint8Array> | DeltaRecords): source is DeltaRecords => 'records' in source;

/**
 * Copies the checked records of the stream to the stage file (or in place); returns the
 * stream's header once all of it checked out, and whether blocks were written in place.
 */
async function stageStream(
  core: VolumeCore, source: AsyncIterable<Uint8Array> | DeltaRecords, stage: BlockFile,
  check: (header: DeltaHeader) => void, inPlace: boolean, undo: Undo | undefined,
): Promise<{ header: DeltaHeader; wroteInPlace: boolean }> {
  const writer = new StageWriter(stage);
  const holdsRecords = !(isRecords(source) && source.transient);
  // In-place writes are flushed as they go, so the sync before the commit finds little left.
  const behind = new WriteBehind(core.data);
  const overwrites = inPlace && undo && holdsRecords ? new Overwrites(core, stage, tailOf(core)!, behind) : undefined;
  let header: DeltaHeader | undefined;
  let wroteInPlace = false;
  try {
    for await (const event of isRecords(source) ? recordEvents(source) : streamEvents(source)) {
      if (event.type === 'header') {
        check(event.header);
        header = event.header;
        await writer.begin({ to: header.to.id, name: `${header.volume.name}@${header.to.name}`, undo });
      } else if (event.type === 'record') {
        wroteInPlace = (await stageRecord(core, writer, event.record, inPlace, overwrites, behind)) || wroteInPlace;
      }
    }
    await overwrites?.flush();
    await behind.settle();
  } catch (error) {
    await overwrites?.settle();
    await behind.quiesce();
    throw error;
  }
  await stage.sync();
  return { header: header!, wroteInPlace };
}

/** Claims the space the staged records need (volume file and before-images); returns the before-images to reserve. */
async function claimStaged(core: VolumeCore, stage: BlockFile): Promise<number> {
  let saves = 0;
  for await (const e of stageExtents(stage, blockSizeOf(core))) {
    if (e.kind !== 'staged') continue;
    await claimSpace(core, e.start, e.count);
    saves += await countBeforeImages(core, e.start, e.count);
  }
  return saves;
}

/**
 * Stages, checks and applies a stream. With `rollbackTo`, the stream applies to that
 * checkpoint's image: the volume is restored to it and the stream applied as one
 * change (one commit names both), so a failure before the commit changes nothing.
 */
export async function importDiff(
  core: VolumeCore, source: AsyncIterable<Uint8Array> | DeltaRecords, options: { rollbackTo?: Checkpoint; base?: string } = {},
): Promise<ImportResult> {
  const path = volumePaths(core.dir).stage;
  const rollback = options.rollbackTo;
  // Blocks written in place must not be overwritten by a replay of older log records.
  await foldLogBeforeUnlogged(core);
  // A rollback restores blocks first: none may be written before it.
  const undo = rollback ? undefined : await undoPoint(core);
  const stage = await openFile(path, { create: true });
  let header: DeltaHeader;
  try {
    await stage.truncate(0);
    // The stream must start from the volume's image, or the rollback's; a base the
    // caller vouches for (an image between the stream's ends) needs the geometry only.
    const base = rollback ? rollback.record.image : core.record.base;
    const check = options.base !== undefined
      ? (header: DeltaHeader) => checkGeometry(core, header)
      : (header: DeltaHeader) => checkFits(core, header, base);
    const staged = await stageStream(core, source, stage, check, !rollback, undo);
    header = staged.header;
    // The before-images counted now are at least those the apply saves (the tail only gains).
    let saves = rollback ? await claimRestoreSpace(core, rollback) : 0;
    saves += await claimStaged(core, stage);
    if (saves > 0) await tailOf(core)!.reserve(saves);
    if (staged.wroteInPlace) await core.data.sync();
  } catch (error) {
    await stage.close();
    await undoFailed(core, undo, error);
    await removeFile(path);
    throw error;
  }
  await stage.close();
  if (!rollback) {
    await commitRecord(core, { ...core.record, pending: { import: { to: header.to.id } } });
    return { header, ...(await redoImport(core, header.to.id)) };
  }
  await commitRecord(core, { ...core.record, pending: { restore: rollback.record.id, import: { to: header.to.id } } });
  await redoRestore(core, rollback);
  return { header, ...(await redoImport(core, header.to.id)) };
}

/** Puts back what a failed import overwrote; if that fails too, the stage stays for the next open to undo. */
async function undoFailed(core: VolumeCore, undo: Undo | undefined, error: unknown): Promise<void> {
  if (!undo) return;
  try {
    await undoOverwrites(core, undo);
  } catch {
    core.failed ??= error;
    throw error;
  }
}

/** Applies a committed stage (again, after a crash: every step is idempotent) and finishes the import. */
export async function redoImport(core: VolumeCore, to: string): Promise<{ dataBlocks: number; unusedBlocks: number }> {
  const path = volumePaths(core.dir).stage;
  const stage = await openFileReadOnly(path);
  let counts;
  let name;
  try {
    await foldLogBeforeUnlogged(core);
    name = (await readStageInfo(stage)).info.name;
    counts = await applyStage(core, stage);
  } catch (error) {
    core.failed ??= error;
    throw error;
  } finally {
    await stage.close();
  }
  await commitRecord(core, { ...core.record, base: to, imported: { id: to, name }, pending: undefined });
  await removeFile(path);
  await foldLogIfBig(core);
  return counts;
}

/** Saves the before-images of every staged record, then syncs the tail's save volume once. */
async function saveStagedBeforeImages(core: VolumeCore, stage: BlockFile): Promise<void> {
  const step = stepBlocks(core);
  let saved = false;
  for await (const e of stageExtents(stage, blockSizeOf(core))) {
    if (e.kind !== 'staged') continue;
    for (let at = e.start; at < e.start + e.count; at += step) {
      saved = (await saveBeforeImages(core, at, Math.min(step, e.start + e.count - at))) || saved;
    }
  }
  if (saved) await tailOf(core)!.syncSaved();
}

/** Copies a staged record's payload into the volume file, a step at a time. */
async function copyStaged(
  core: VolumeCore, stage: BlockFile, e: StageExtent, buffer: Uint8Array, behind: WriteBehind,
): Promise<void> {
  const size = blockSizeOf(core);
  const step = buffer.length / size;
  for (let at = 0; at < e.count; at += step) {
    const bytes = buffer.subarray(0, Math.min(step, e.count - at) * size);
    await stage.read(bytes, e.at + at * size);
    await core.data.write(bytes, (e.start + at) * size);
    behind.wrote(bytes.length);
  }
}

/** Before-images, then data (one sync), then the meta bit changes. */
async function applyStage(core: VolumeCore, stage: BlockFile): Promise<{ dataBlocks: number; unusedBlocks: number }> {
  await saveStagedBeforeImages(core, stage);
  const buffer = new Uint8Array(stepBlocks(core) * blockSizeOf(core));
  const meta = new MetaChanges();
  const behind = new WriteBehind(core.data);
  let dataBlocks = 0;
  let unusedBlocks = 0;
  for await (const e of stageExtents(stage, blockSizeOf(core))) {
    const span = granules(core, e.start, e.count);
    if (e.kind === 'unused') {
      unusedBlocks += e.count;
      meta.add('meta-clear', span.start, span.count);
      continue;
    }
    dataBlocks += e.count;
    meta.add('meta-set', span.start, span.count);
    // A failure here leaves a background sync to finish on its own (it settles, never rejects).
    if (e.kind === 'staged') await copyStaged(core, stage, e, buffer, behind);
    // 'written' and 'overwritten' blocks hold their data already.
  }
  await behind.settle();
  await core.data.sync();
  await meta.flush(core);
  return { dataBlocks, unusedBlocks };
}

/** Meta bit changes in stream order, neighbours of one kind merged, logged in groups. */
class MetaChanges {
  static readonly GROUP = 4096;
  readonly #records: Array<WalRecord & { type: 'meta-set' | 'meta-clear' }> = [];

  add(type: 'meta-set' | 'meta-clear', start: number, count: number): void {
    const last = this.#records[this.#records.length - 1];
    if (last && last.type === type && start <= last.start + last.count) {
      last.count = Math.max(last.count, start + count - last.start);
    } else {
      this.#records.push({ type, start, count });
    }
  }

  /** Replaying a group again gives the same bits: a crash between groups is redone from the stage. */
  async flush(core: VolumeCore): Promise<void> {
    for (let i = 0; i < this.#records.length; i += MetaChanges.GROUP) {
      await writeMeta(core, this.#records.slice(i, i + MetaChanges.GROUP));
    }
  }
}

/** Granules [first, end) that blocks [start, start + count) touch. */
function granules(core: VolumeCore, start: number, count: number): { start: number; count: number } {
  const g = granularityOf(core);
  const first = Math.floor(start / 2 ** g);
  const end = Math.ceil((start + count) / 2 ** g);
  return { start: first, count: end - first };
}
