// One write, however large, is one atomic change. The input is streamed into a stage
// file as the new content of whole blocks (the old content of partly written edge
// blocks merged in, a granule coming into use written whole), refused as soon as it
// runs past the end of the volume; the stage is made durable, the space the write
// needs is claimed, and only then does volume.json commit it (`pending.write`). The
// stage is applied after the commit, and applied again on open after a crash: every
// step rewrites the same bytes, so a crash leaves the volume wholly old or wholly new.

import { join } from 'node:path';
import { invalidArgument, outOfRange } from '../errors.js';
import { type BlockFile, openFile, openFileReadOnly, removeFile } from '../storage/file.js';
import { claimSpace, countBeforeImages, writeBlocksUnlogged, writeMeta } from '../checkpoint/write-path.js';
import { readImage } from '../checkpoint/read-path.js';
import { blockSizeOf, granularityOf, stepBlocks, tailOf, type VolumeCore } from './core.js';
import { changedSpan, unchangedBlocks } from './nop-write.js';
import { commitRecord, foldLogBeforeUnlogged, foldLogIfBig } from './record.js';

export interface WriteFromOptions {
  /** The bytes the input holds: a longer input is refused at once, a shorter or longer one changes nothing. */
  size?: number;
  /** Hears of the bytes taken in as they are staged, and the total when `size` is given (else 0). */
  onProgress?: (bytes: number, total: number) => void;
  /**
   * Nop-write (default: the volume's setting, on unless the DataDir was opened with
   * compareBeforeWrite false): blocks whose content the write leaves as it is are
   * neither saved, marked nor written.
   */
  compare?: boolean;
}

/** Blocks [start, start + count) that a staged write replaces. */
export interface WriteSpan {
  start: number;
  count: number;
}

export const writeStagePath = (volumeDir: string): string => join(volumeDir, 'write.stage');

/** The first block a write at `offset` replaces: a granule coming into use is written from its start. */
function firstBlock(core: VolumeCore, offset: number): number {
  const block = Math.floor(offset / blockSizeOf(core));
  const granule = 2 ** granularityOf(core);
  return core.liveMeta.get(Math.floor(block / granule)) ? block : Math.floor(block / granule) * granule;
}

/** The block after the last one a write ending at byte `end` replaces: a granule coming into use is written to its end. */
function endBlock(core: VolumeCore, end: number): number {
  const last = Math.ceil(end / blockSizeOf(core)) - 1;
  const granule = 2 ** granularityOf(core);
  if (core.liveMeta.get(Math.floor(last / granule))) return last + 1;
  return Math.min(core.record.blocks, (Math.floor(last / granule) + 1) * granule);
}

/** Writes the current content of block `block` into the stage (from byte `from` of the block on). */
async function stageOldContent(core: VolumeCore, stage: BlockFile, start: number, block: number, from: number): Promise<void> {
  const size = blockSizeOf(core);
  const old = await readImage(core, null, block, 1);
  await stage.write(old.subarray(from), (block - start) * size + from);
}

/** Streams the input into the stage; returns how many bytes it held. */
async function fillStage(
  core: VolumeCore, stage: BlockFile, start: number, offset: number,
  source: AsyncIterable<Uint8Array>, options: WriteFromOptions,
): Promise<number> {
  const size = blockSizeOf(core);
  const volumeBytes = core.record.blocks * size;
  const at = offset - start * size;
  // A partly written first block keeps its old bytes before the data.
  if (offset % size !== 0) await stageOldContent(core, stage, start, Math.floor(offset / size), 0);
  let total = 0;
  for await (const piece of source) {
    if (!(piece instanceof Uint8Array)) throw invalidArgument('the input must yield Uint8Array pieces');
    if (offset + total + piece.length > volumeBytes) {
      throw outOfRange(`the input runs past the end of ${core.record.name} (${volumeBytes} bytes) at byte ${volumeBytes - offset} of it: nothing was written`);
    }
    if (options.size !== undefined && total + piece.length > options.size) {
      throw invalidArgument(`the input holds more than the ${options.size} bytes given: nothing was written`);
    }
    await stage.write(piece, at + total);
    total += piece.length;
    options.onProgress?.(piece.length, options.size ?? 0);
  }
  if (options.size !== undefined && total !== options.size) {
    throw invalidArgument(`the input held ${total} bytes, not the ${options.size} given: nothing was written`);
  }
  return total;
}

/**
 * Stages, commits and applies one write of the input at byte `offset` (already
 * checked to be within the volume). Returns the bytes written.
 */
export async function stagedWrite(
  core: VolumeCore, offset: number, source: AsyncIterable<Uint8Array>, options: WriteFromOptions = {},
): Promise<number> {
  const path = writeStagePath(core.dir);
  const size = blockSizeOf(core);
  const start = firstBlock(core, offset);
  const stage = await openFile(path, { create: true });
  let span: WriteSpan | undefined;
  let total = 0;
  try {
    await stage.truncate(0);
    total = await fillStage(core, stage, start, offset, source, options);
    if (total > 0) {
      const end = offset + total;
      if (end % size !== 0) await stageOldContent(core, stage, start, Math.floor(end / size), end % size);
      span = { start, count: endBlock(core, end) - start };
      await stage.truncate(span.count * size); // a granule coming into use ends in zeros
      await stage.sync();
      // What the apply needs must be there before the commit: a full disk then changes nothing.
      await claimSpace(core, span.start, span.count);
      const saves = await countBeforeImages(core, span.start, span.count);
      if (saves > 0) await tailOf(core)!.reserve(saves);
    }
  } catch (error) {
    await stage.close();
    await removeFile(path);
    throw error;
  }
  await stage.close();
  if (!span) {
    await removeFile(path);
    return 0;
  }
  await commitRecord(core, { ...core.record, base: null, pending: { ...core.record.pending, write: span } });
  await applyStagedWrite(core, span, options.compare ?? true);
  return total;
}

/** Applies a committed stage (again, after a crash) and finishes the write; the volume must be reopened if this fails. */
export async function applyStagedWrite(core: VolumeCore, span: WriteSpan, compare = true): Promise<void> {
  try {
    // An older write the log still holds would be replayed over the stage's blocks after a crash.
    await foldLogBeforeUnlogged(core);
    await copyStage(core, span, compare);
    await core.data.sync();
    const g = granularityOf(core);
    const g0 = Math.floor(span.start / 2 ** g);
    const g1 = Math.floor((span.start + span.count - 1) / 2 ** g) + 1;
    await writeMeta(core, [{ type: 'meta-set', start: g0, count: g1 - g0 }]);
    const { write: _done, ...pending } = core.record.pending ?? {};
    await commitRecord(core, { ...core.record, pending: Object.keys(pending).length ? pending : undefined });
  } catch (error) {
    core.failed ??= error;
    throw error;
  }
  await removeFile(writeStagePath(core.dir));
  await foldLogIfBig(core);
}

/**
 * Copies the stage into the volume a step at a time. With `compare`, each step is
 * compared with the volume first and only the blocks that change are saved and
 * written (nop-write); a redo after a crash finds the blocks already written unchanged.
 */
async function copyStage(core: VolumeCore, span: WriteSpan, compare: boolean): Promise<void> {
  const size = blockSizeOf(core);
  const step = stepBlocks(core);
  const stage = await openFileReadOnly(writeStagePath(core.dir));
  try {
    const buffer = new Uint8Array(Math.min(step, span.count) * size);
    const current = compare ? new Uint8Array(buffer.length) : undefined;
    for (let at = span.start; at < span.start + span.count; at += step) {
      const n = Math.min(step, span.start + span.count - at);
      const bytes = buffer.subarray(0, n * size);
      await stage.read(bytes, (at - span.start) * size);
      if (!compare) {
        await writeBlocksUnlogged(core, at, n, bytes);
        continue;
      }
      const unchanged = unchangedBlocks(core, at, n, await readImage(core, null, at, n, current), bytes, at * size);
      const changed = changedSpan(unchanged);
      if (!changed) continue;
      const [lo, hi] = changed;
      await writeBlocksUnlogged(core, at + lo, hi - lo, bytes.subarray(lo * size, hi * size), unchanged.subarray(lo, hi));
    }
  } finally {
    await stage.close();
  }
}
