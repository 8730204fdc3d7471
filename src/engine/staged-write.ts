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

/** Checks one more piece of the input against the volume's end and the size given. */
function checkPiece(core: VolumeCore, offset: number, total: number, piece: unknown, options: WriteFromOptions): Uint8Array {
  if (!(piece instanceof Uint8Array)) throw invalidArgument('the input must yield Uint8Array pieces');
  const volumeBytes = core.record.blocks * blockSizeOf(core);
  if (offset + total + piece.length > volumeBytes) {
    throw outOfRange(`the input runs past the end of ${core.record.name} (${volumeBytes} bytes) at byte ${volumeBytes - offset} of it: nothing was written`);
  }
  if (options.size !== undefined && total + piece.length > options.size) {
    throw invalidArgument(`the input holds more than the ${options.size} bytes given: nothing was written`);
  }
  return piece;
}

function checkTotal(total: number, options: WriteFromOptions): void {
  if (options.size !== undefined && total !== options.size) {
    throw invalidArgument(`the input held ${total} bytes, not the ${options.size} given: nothing was written`);
  }
}

/** Streams the input into the stage; returns how many bytes it held. */
async function fillStage(
  core: VolumeCore, stage: BlockFile, start: number, offset: number,
  source: AsyncIterable<Uint8Array>, options: WriteFromOptions,
): Promise<number> {
  const size = blockSizeOf(core);
  const at = offset - start * size;
  // A partly written first block keeps its old bytes before the data.
  if (offset % size !== 0) await stageOldContent(core, stage, start, Math.floor(offset / size), 0);
  let total = 0;
  for await (const piece of source) {
    await stage.write(checkPiece(core, offset, total, piece, options), at + total);
    total += piece.length;
    options.onProgress?.(piece.length, options.size ?? 0);
  }
  checkTotal(total, options);
  return total;
}

/** What a comparing fill staged: the input's bytes, and the blocks that change (none: undefined). */
interface ComparedStage {
  total: number;
  span: WriteSpan | undefined;
}

/**
 * Nop-write while staging: the input is gathered into whole steps of blocks (with the
 * old bytes around a partly written edge block, and the zeros of a granule coming into
 * use), each compared with the volume as it arrives, and the stage holds only the
 * blocks from the first that changes to the last (what lies between goes in as it is).
 * An input that changes nothing stages nothing, so it costs a read of the blocks.
 * The volume is locked for the whole write, so what was compared is still there at
 * the apply, which compares again.
 */
async function fillStageComparing(
  core: VolumeCore, stage: BlockFile, start: number, offset: number,
  source: AsyncIterable<Uint8Array>, options: WriteFromOptions,
): Promise<ComparedStage> {
  const size = blockSizeOf(core);
  const steps = new StepGatherer(core, stage, start);
  // Before the data: the old bytes of a partly written block, zeros of blocks not in use.
  if (offset > start * size) await steps.push(await readImage(core, null, start, Math.ceil(offset / size) - start), offset - start * size);
  let total = 0;
  for await (const piece of source) {
    await steps.push(checkPiece(core, offset, total, piece, options));
    total += piece.length;
    options.onProgress?.(piece.length, options.size ?? 0);
  }
  checkTotal(total, options);
  if (total === 0) return { total, span: undefined };
  // After the data: the rest of a partly written block, and of a granule coming into use.
  const end = offset + total;
  const last = Math.floor(end / size);
  const stop = endBlock(core, end);
  if (stop > last) await steps.push((await readImage(core, null, last, stop - last)).subarray(end - last * size));
  return { total, span: await steps.finish() };
}

/** Gathers bytes into whole steps of blocks and stages those from the first changed block on. */
class StepGatherer {
  readonly #core: VolumeCore;
  readonly #stage: BlockFile;
  readonly #size: number;
  readonly #buffer: Uint8Array;
  readonly #current: Uint8Array;
  /** The block at byte 0 of the buffer, and how many bytes the buffer holds. */
  #at: number;
  #fill = 0;
  #first: number | undefined;
  #end = 0;

  constructor(core: VolumeCore, stage: BlockFile, start: number) {
    this.#core = core;
    this.#stage = stage;
    this.#size = blockSizeOf(core);
    this.#buffer = new Uint8Array(stepBlocks(core) * this.#size);
    this.#current = new Uint8Array(this.#buffer.length);
    this.#at = start;
  }

  /** The first `length` bytes of `bytes` (default all) come next. */
  async push(bytes: Uint8Array, length = bytes.length): Promise<void> {
    for (let from = 0; from < length;) {
      const n = Math.min(length - from, this.#buffer.length - this.#fill);
      this.#buffer.set(bytes.subarray(from, from + n), this.#fill);
      this.#fill += n;
      from += n;
      if (this.#fill === this.#buffer.length) await this.#flush();
    }
  }

  /** Flushes what is left (whole blocks by then); the blocks that change, if any. */
  async finish(): Promise<WriteSpan | undefined> {
    await this.#flush();
    return this.#first === undefined ? undefined : { start: this.#first, count: this.#end - this.#first };
  }

  async #flush(): Promise<void> {
    const size = this.#size;
    const n = this.#fill / size;
    if (n === 0) return;
    const at = this.#at;
    const bytes = this.#buffer.subarray(0, n * size);
    const now = await readImage(this.#core, null, at, n, this.#current);
    const changed = changedSpan(unchangedBlocks(this.#core, at, n, now, bytes, at * size));
    if (changed) {
      this.#first ??= at + changed[0];
      this.#end = at + changed[1];
    }
    if (this.#first !== undefined) {
      const from = Math.max(this.#first, at);
      await this.#stage.write(bytes.subarray((from - at) * size), (from - this.#first) * size);
    }
    this.#at += n;
    this.#fill = 0;
  }
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
  const compare = options.compare ?? true;
  const stage = await openFile(path, { create: true });
  let span: WriteSpan | undefined;
  let total = 0;
  try {
    await stage.truncate(0);
    if (compare) ({ total, span } = await fillStageComparing(core, stage, start, offset, source, options));
    else {
      total = await fillStage(core, stage, start, offset, source, options);
      const end = offset + total;
      if (total > 0 && end % size !== 0) await stageOldContent(core, stage, start, Math.floor(end / size), end % size);
      if (total > 0) span = { start, count: endBlock(core, end) - start };
    }
    if (span) {
      await stage.truncate(span.count * size); // a granule coming into use ends in zeros; unchanged blocks after the last change go
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
    // A write, even one that changes nothing, leaves no known image behind (as Volume.write).
    if (total > 0 && core.record.base !== null) await commitRecord(core, { ...core.record, base: null });
    return total;
  }
  await commitRecord(core, { ...core.record, base: null, pending: { ...core.record.pending, write: span } });
  await applyStagedWrite(core, span, compare);
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
