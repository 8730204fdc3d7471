// The write path with meta bit maps (FIG. 41): before a block of the volume is
// overwritten, its before-image goes into the TAIL save volume when some checkpoint
// still needs it: walking from the tail toward the head, the first checkpoint that
// already saved the block ends the walk (nothing to save), and the first one that had
// the block in use before that means save.
//
// The before-images travel in the same write-ahead log record group as the new data,
// so one fdatasync makes both durable before the volume file is touched; the save
// volume is appended to after that, and made durable before the log is folded away
// (replaying a 'save' record appends only what the save volume lacks).

import type { PagedBitmap } from '../arena/bitmap.js';
import { decodeMap } from './map-file.js';
import { ClaimedPages } from '../storage/file.js';
import { blockSizeOf, granularityOf, stepBlocks, tailOf, type VolumeCore } from '../engine/core.js';
import type { WalRecord } from '../engine/wal.js';

/**
 * The blocks of [start, start + count) whose current content must be saved before they
 * are overwritten (FIG. 41 steps 681-690), ascending; blocks flagged in `skip` are left
 * out. The walk goes from the tail toward the head, one checkpoint at a time for the
 * whole range, and stops once every block is decided: the first checkpoint that saved a
 * block decides "no", the first that had it in use "yes". Only the checkpoints the walk
 * reaches are staged, which for blocks the tail has in use is the tail alone, so a
 * write's cost and staged maps do not grow with the number of checkpoints.
 */
async function blocksToSave(core: VolumeCore, start: number, count: number, skip?: Uint8Array): Promise<number[]> {
  const g = granularityOf(core);
  let undecided: number[] = [];
  for (let b = start; b < start + count; b++) if (!skip?.[b - start]) undecided.push(b);
  const save: number[] = [];
  for (let i = core.checkpoints.length - 1; i >= 0 && undecided.length > 0; i--) {
    const ckpt = core.checkpoints[i]!;
    const bitmap: PagedBitmap = (await ckpt.maps()).bitmap;
    const meta: PagedBitmap = await ckpt.meta();
    const next: number[] = [];
    for (const b of undecided) {
      if (bitmap.get(b)) continue;
      if (meta.get(b >>> g)) save.push(b);
      else next.push(b);
    }
    undecided = next;
  }
  return save.sort((a, b) => a - b);
}

/** Reads blocks [start, start + count) of the volume file as they are now. */
async function readVolumeFile(core: VolumeCore, start: number, count: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(count * blockSizeOf(core));
  await core.data.read(bytes, start * blockSizeOf(core));
  return bytes;
}

/**
 * The before-images the blocks of [start, start + count) need, as a log record (none:
 * undefined). A block flagged in `unchanged` (one byte per block, nop-write) keeps its
 * content, so it needs none.
 */
async function beforeImages(core: VolumeCore, start: number, count: number, unchanged?: Uint8Array): Promise<WalRecord | undefined> {
  const tail = tailOf(core);
  if (!tail) return undefined;
  const blocks = await blocksToSave(core, start, count, unchanged);
  if (blocks.length === 0) return undefined;
  const size = blockSizeOf(core);
  const current = await readVolumeFile(core, start, count);
  const images = new Uint8Array(blocks.length * size);
  blocks.forEach((b, i) => images.set(current.subarray((b - start) * size, (b - start + 1) * size), i * size));
  return { type: 'save', checkpoint: tail.record.id, blocks, images };
}

/** How many of the blocks of [start, start + count) need a before-image now (what the tail's save volume must make room for). */
export async function countBeforeImages(core: VolumeCore, start: number, count: number): Promise<number> {
  if (!tailOf(core)) return 0;
  return (await blocksToSave(core, start, count)).length;
}

/**
 * Writes blocks whose new content is durable elsewhere already (a committed stage,
 * redone after a crash): the before-images go straight to the tail's save volume and
 * are made durable first (its records check themselves, so the log need not carry
 * them); the data goes to the volume file, durable at the caller's next sync. Space
 * must have been claimed before the commit. Idempotent.
 */
export async function writeBlocksUnlogged(
  core: VolumeCore, start: number, count: number, data: Uint8Array, unchanged?: Uint8Array,
): Promise<void> {
  const save = await beforeImages(core, start, count, unchanged);
  if (save) {
    await applyCommitted(core, [save]);
    await tailOf(core)!.syncSaved();
  }
  const size = blockSizeOf(core);
  if (!unchanged) {
    await core.data.write(data, start * size);
    return;
  }
  // Only the runs of blocks that change (nop-write).
  for (let b = 0; b < count;) {
    if (unchanged[b]) {
      b++;
      continue;
    }
    let e = b + 1;
    while (e < count && !unchanged[e]) e++;
    await core.data.write(data.subarray(b * size, e * size), (start + b) * size);
    b = e;
  }
}

/**
 * Appends to the tail's save volume the before-images blocks [start, start + count)
 * need, not yet durable (the tail's syncSaved makes them so, and must come before the
 * blocks are overwritten); returns whether there were any. An import or restore saves
 * all of its before-images first and syncs once, rather than once per step. Idempotent.
 */
export async function saveBeforeImages(core: VolumeCore, start: number, count: number): Promise<boolean> {
  const save = await beforeImages(core, start, count);
  if (save) await applyCommitted(core, [save]);
  return save !== undefined;
}

/** Most bytes claimed with one read and write-back. */
const CLAIM_RUN_BYTES = 1 << 20;

/**
 * Claims the disk space of blocks [start, start + count) of the volume file before a
 * write to them commits: a sparse file's holes take space when first written, and a
 * full disk must fail the write before its log record is durable (then nothing has
 * changed), not after (then the log would hold a write it cannot apply). Runs of
 * pages not claimed yet are read and written back as they are, which changes nothing
 * but their allocation; only the 4 KiB pages the blocks touch are claimed.
 */
export async function claimSpace(core: VolumeCore, start: number, count: number): Promise<void> {
  const size = blockSizeOf(core);
  const page = ClaimedPages.PAGE;
  const fileEnd = core.record.blocks * size;
  const first = Math.floor((start * size) / page);
  const end = Math.ceil(((start + count) * size) / page);
  let scratch: Uint8Array | undefined;
  try {
    for (let p = first; p < end;) {
      if (core.claimed.has(p)) {
        p++;
        continue;
      }
      let q = p + 1;
      while (q < end && !core.claimed.has(q) && (q - p) * page < CLAIM_RUN_BYTES) q++;
      scratch ??= core.claimed.lend(CLAIM_RUN_BYTES);
      const bytes = scratch.subarray(0, Math.min(q * page, fileEnd) - p * page);
      await core.data.read(bytes, p * page);
      await core.data.write(bytes, p * page);
      for (let k = p; k < q; k++) core.claimed.add(k);
      p = q;
    }
  } finally {
    if (scratch) core.claimed.giveBack(scratch);
  }
}

/**
 * Writes blocks [start, start + count): `data` holds their new content, or null for
 * zeros. `alongside` are log records committed atomically with the write (meta bit
 * changes). Blocks flagged in `unchanged` (nop-write: the data holds what they hold
 * already) are rewritten as they are but need no before-image. Large writes go in
 * steps; each step is atomic and durable on return.
 */
export async function writeBlocks(
  core: VolumeCore, start: number, count: number, data: Uint8Array | null, alongside: WalRecord[] = [],
  unchanged?: Uint8Array,
): Promise<void> {
  const size = blockSizeOf(core);
  const step = stepBlocks(core);
  for (let at = start; at < start + count; at += step) {
    const n = Math.min(step, start + count - at);
    const save = await beforeImages(core, at, n, unchanged?.subarray(at - start, at - start + n));
    const bytes = data ? data.subarray((at - start) * size, (at - start + n) * size) : null;
    const record: WalRecord = bytes ? { type: 'write', start: at, count: n, data: bytes } : { type: 'zero', start: at, count: n };
    const last = at + step >= start + count;
    const records = [...(save ? [save] : []), record, ...(last ? alongside : [])];
    await claimSpace(core, at, n);
    if (save?.type === 'save') await tailOf(core)!.reserve(save.blocks.length);
    await core.wal.append(records);
    await applyCommitted(core, records);
  }
  if (count === 0 && alongside.length > 0) await writeMeta(core, alongside);
}

/** Applies records whose log entry is durable; if that fails, memory and files part ways until reopened. */
async function applyCommitted(core: VolumeCore, records: WalRecord[]): Promise<void> {
  try {
    for (const r of records) await applyRecord(core, r);
  } catch (error) {
    core.failed = error;
    throw error;
  }
}

/** Logs and applies records that change only the meta bit map. */
export async function writeMeta(core: VolumeCore, records: WalRecord[]): Promise<void> {
  if (records.length === 0) return;
  await core.wal.append(records);
  await applyCommitted(core, records);
}

const zeroBuffers = new Map<number, Uint8Array>();

function zeros(bytes: number): Uint8Array {
  let z = zeroBuffers.get(bytes);
  if (!z) zeroBuffers.set(bytes, (z = new Uint8Array(bytes)));
  return z;
}

/** Carries out one log record (after it is durable, or when replaying the log). Idempotent. */
export async function applyRecord(core: VolumeCore, record: WalRecord): Promise<void> {
  const size = blockSizeOf(core);
  switch (record.type) {
    case 'write':
      await core.data.write(record.data, record.start * size);
      return;
    case 'zero':
      await core.data.write(zeros(record.count * size), record.start * size);
      return;
    case 'meta-set':
      core.liveMeta.setRange(record.start, record.start + record.count);
      return;
    case 'meta-clear':
      core.liveMeta.clearRange(record.start, record.start + record.count);
      return;
    case 'save': {
      // In use: the images go to the save volume now. Replayed: only those it lacks.
      const ckpt = core.checkpoints.find((c) => c.record.id === record.checkpoint);
      if (!ckpt) return; // deleted since: its save volume was merged or dropped, durably
      const maps = await ckpt.maps();
      const size = blockSizeOf(core);
      const missing = record.blocks.map((b, i) => [b, i] as const).filter(([b]) => !maps.bitmap.get(b));
      if (missing.length === 0) return;
      const images = new Uint8Array(missing.length * size);
      missing.forEach(([, i], k) => images.set(record.images.subarray(i * size, (i + 1) * size), k * size));
      await ckpt.save(missing.map(([b]) => b), images);
      return;
    }
    case 'meta-restore': {
      const { map } = decodeMap(core.arena, record.map, 'a restore record of the write-ahead log');
      core.liveMeta.assign(map);
      map.free();
      return;
    }
  }
}
