// Blocks in use that an import overwrites in place, before it commits, with an undo.
//
// A replica imports each set over blocks that its newest checkpoint still needs, so
// every such block gets a before-image in the tail's save volume anyway. Those
// before-images are the undo: they are appended (and made durable) before their blocks
// are overwritten, so the new data crosses the disk once instead of through a stage
// and again into the volume. An import that fails, or a crash before its commit, puts
// the before-images back and cuts the save volume to where it was (StageInfo.undo, in
// the stage's head, durable before the first block is overwritten): the volume and
// the tail's maps are then exactly as before. After the commit they are the tail's
// before-images like any others.

import { type BlockFile, openFileReadOnly, removeFile } from '../storage/file.js';
import type { WriteBehind } from '../storage/write-behind.js';
import { blockSizeOf, stepBlocks, tailOf, type VolumeCore } from '../engine/core.js';
import { volumePaths } from '../engine/layout.js';
import type { Checkpoint } from './checkpoint.js';
import type { StreamRecord } from './delta-stream.js';
import { readStageInfo, type StageInfo } from './import-stage.js';
import { claimSpace, countBeforeImages } from './write-path.js';

export type Undo = NonNullable<StageInfo['undo']>;

/** Where the undo of an import starts: the tail's save volume as it is now (none without a checkpoint). */
export async function undoPoint(core: VolumeCore): Promise<Undo | undefined> {
  const tail = tailOf(core);
  if (!tail) return undefined;
  return { checkpoint: tail.record.id, records: (await tail.maps()).log.count };
}

/** Whether every block of [start, start + count) needs a before-image now (then the before-images undo an overwrite). */
export async function undoable(core: VolumeCore, start: number, count: number): Promise<boolean> {
  return (await countBeforeImages(core, start, count)) === count;
}

/**
 * Overwrites in place, in batches: the before-images of a batch are appended to the
 * tail's save volume and made durable (with the stage, whose head names the undo),
 * then the batch's data is written. A batch is written in the background while the
 * next is read and checked, one batch at a time and in order. The data is durable at
 * the caller's sync of the volume file, before the commit.
 */
export class Overwrites {
  /** New data held back per batch, until its before-images are durable (tests lower it). */
  static batchBytes = 32 << 20;
  #records: StreamRecord[] = [];
  #bytes = 0;
  /**
   * The new data of the batch being gathered and of the batch being written, in two
   * buffers used in turn: records may be transient (a reader's views, valid until the
   * next is read), and reused memory costs no page faults, unlike a copy per record.
   */
  #arenas: [Uint8Array, Uint8Array] = [new Uint8Array(0), new Uint8Array(0)];
  #turn = 0;
  /** Bytes of the gathering buffer in use. */
  #used = 0;
  #images = new Uint8Array(0);
  /** The batch being written; it rejects when that failed. */
  #writing: Promise<void> = Promise.resolve();

  /** `behind`, when given, flushes the volume file's new data in the background as batches are written. */
  constructor(readonly core: VolumeCore, readonly stage: BlockFile, readonly tail: Checkpoint, readonly behind?: WriteBehind) {}

  /** Takes a checked data record over blocks in use that all need a before-image. */
  async add(record: StreamRecord): Promise<void> {
    // A full disk fails here, before the block changes (the undo writes into claimed space too).
    // Claimed pages are remembered, so this never rewrites a page a batch in the background writes.
    await claimSpace(this.core, record.start, record.count);
    this.#records.push({ ...record, data: this.#keep(record.data!) });
    this.#bytes += record.data!.length;
    if (this.#bytes >= Overwrites.batchBytes) await this.#startBatch();
  }

  /** A copy of `data` in the gathering batch's buffer (a larger one when it is full: what was copied stays where it is). */
  #keep(data: Uint8Array): Uint8Array {
    let arena = this.#arenas[this.#turn]!;
    if (arena.length < this.#used + data.length) {
      arena = new Uint8Array(Math.max(Overwrites.batchBytes + data.length, 2 * arena.length));
      this.#arenas[this.#turn] = arena;
      this.#used = 0;
    }
    const copy = arena.subarray(this.#used, this.#used + data.length);
    copy.set(data);
    this.#used += data.length;
    return copy;
  }

  /** Writes what is left, and waits until all of it is written. */
  async flush(): Promise<void> {
    await this.#startBatch();
    await this.#writing;
  }

  /** Waits until the batch in the background ends, failed or not (an undo must not run beside it). */
  async settle(): Promise<void> {
    await this.#writing.catch(() => undefined);
  }

  /** Starts writing the records taken so far once the batch before is written (its failure is thrown here). */
  async #startBatch(): Promise<void> {
    const batch = this.#records;
    this.#records = [];
    this.#bytes = 0;
    // The next batch gathers in the other buffer; this one's is free once the batch before it is written.
    this.#turn ^= 1;
    this.#used = 0;
    await this.#writing;
    this.#writing = this.#write(batch);
    this.#writing.catch(() => undefined); // awaited by the next batch, flush or settle
  }

  async #write(batch: StreamRecord[]): Promise<void> {
    if (batch.length === 0) return;
    const size = blockSizeOf(this.core);
    for (const r of batch) {
      if (this.#images.length < r.count * size) this.#images = new Uint8Array(r.count * size);
      const images = this.#images.subarray(0, r.count * size);
      await this.core.data.read(images, r.start * size);
      await this.tail.save(Array.from({ length: r.count }, (_, i) => r.start + i), images, { grow: true });
    }
    await this.stage.sync();
    await this.tail.syncSaved();
    for (const r of batch) {
      await this.core.data.write(r.data!, r.start * size);
      this.behind?.wrote(r.data!.length);
    }
  }
}

/**
 * Puts back the before-images an import that did not commit appended to the tail's
 * save volume past `undo.records`, then cuts them off and stages the tail's maps again.
 * Idempotent: a crash in the middle is undone again on open.
 */
export async function undoOverwrites(core: VolumeCore, undo: Undo): Promise<void> {
  const tail = core.checkpoints.find((c) => c.record.id === undo.checkpoint);
  if (!tail) return;
  const { log } = await tail.maps();
  if (log.count <= undo.records) return;
  const size = blockSizeOf(core);
  const step = stepBlocks(core);
  const images = new Uint8Array(step * size);
  for (let i = undo.records; i < log.count; i += step) {
    const n = Math.min(step, log.count - i);
    const blocks = await log.readImages(i, n, images);
    for (let r = 0; r < n;) {
      let e = r + 1;
      while (e < n && blocks[e] === blocks[e - 1]! + 1) e++;
      await core.data.write(images.subarray(r * size, e * size), blocks[r]! * size);
      r = e;
    }
  }
  await core.data.sync();
  await log.file.truncate(log.position(undo.records));
  await log.file.sync();
  await tail.unload();
  await tail.maps();
}

/** Removes the stage no pending import names, undoing what it overwrote first if its import did not commit. */
export async function abandonStage(core: VolumeCore): Promise<void> {
  const path = volumePaths(core.dir).stage;
  let info: StageInfo | undefined;
  try {
    const stage = await openFileReadOnly(path);
    try {
      info = (await readStageInfo(stage)).info;
    } finally {
      await stage.close();
    }
  } catch {
    // No stage, or one whose head never became durable: nothing was overwritten before that.
    info = undefined;
  }
  // The volume holding the stage's image means its import committed and finished (its last
  // commit sets the base, then the stage is removed): a crash came in between. Its
  // before-images are the tail's like any others now; putting them back would take back
  // only the blocks in use of a finished import.
  const finished = info !== undefined && core.record.base === info.to;
  if (info?.undo && !finished) await undoOverwrites(core, info.undo);
  await removeFile(path);
}
