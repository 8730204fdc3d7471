// A volume: N blocks of B bytes in one file, with its queue of checkpoints. Every
// public method validates its arguments (bad input changes nothing), then runs the
// internal operation under the volume's lock, one at a time.

import { type Checkpoint, mapCacheOf } from '../checkpoint/checkpoint.js';
import {
  type DeltaChunk, type DeltaExtent, type DeltaPlan, type DeltaSize, type PlanOptions, deltaChunks, deltaExtents, deltaSize, planDelta,
} from '../checkpoint/delta.js';
import { type DeltaHeader, StreamWriter } from '../checkpoint/delta-stream.js';
import { checkGeometry, type DeltaRecords, type ImportResult, importDiff } from '../checkpoint/import.js';
import { peekHeader } from '../checkpoint/stream-peek.js';
import { createCheckpoint, deleteCheckpoint, restoreCheckpoint } from '../checkpoint/queue.js';
import { openImage, readFrom, readImage } from '../checkpoint/read-path.js';
import { writeBlocks, writeMeta } from '../checkpoint/write-path.js';
import { SnapcopyError, invalidArgument, notFound, outOfRange } from '../errors.js';
import { MAX_BLOCKS } from '../kernels/api.js';
import { stepBlocks, type VolumeCore } from '../engine/core.js';
import { EMPTY_IMAGE, newId } from '../engine/layout.js';
import { parseCheckpointSpec } from './names.js';
import { Mutex } from './mutex.js';
import { resizeVolume } from '../engine/resize.js';
import { changedSpan, unchangedBlocks } from '../engine/nop-write.js';
import { stagedWrite, type WriteFromOptions } from '../engine/staged-write.js';
import { commitRecord, compactLogIfPossible } from '../engine/record.js';

export interface CheckpointInfo {
  name: string;
  id: string;
  /** The id of the image it holds (its own id, or the foreign image it equals). */
  image: string;
  seq: number;
  created: string;
}

/** What the volume tells whoever opened it (the DataDir releases its lock). */
export interface VolumeHooks {
  closed(): Promise<void>;
}

/** The write-ahead log is folded into the files once it holds this much. */
const LOG_LIMIT = 64 << 20;

export class Volume {
  readonly #core: VolumeCore;
  readonly #hooks: VolumeHooks;
  readonly #lock = new Mutex();
  /** Checkpoint names taken by calls still in flight (names are unique in the volume). */
  readonly #reserved = new Set<string>();
  #closed = false;
  /** Nop-write: compare each block with what the volume holds and skip the unchanged ones. */
  readonly #compare: boolean;

  constructor(core: VolumeCore, hooks: VolumeHooks, options: { compareBeforeWrite?: boolean } = {}) {
    this.#core = core;
    this.#hooks = hooks;
    this.#compare = options.compareBeforeWrite ?? true;
  }

  get name(): string {
    return this.#core.record.name;
  }

  get uuid(): string {
    return this.#core.record.uuid;
  }

  get blocks(): number {
    return this.#core.record.blocks;
  }

  get blockSize(): number {
    return this.#core.record.blockSize;
  }

  /** Bytes: blocks * blockSize. */
  get size(): number {
    return this.blocks * this.blockSize;
  }

  get granularity(): number {
    return this.#core.record.granularity;
  }

  /** The image id the live volume equals, or null once it has changed since its last known image. */
  get base(): string | null {
    return this.#core.record.base;
  }

  // Public methods check their arguments first (a bad call changes nothing and
  // rejects), then run under the volume's lock; checkpoint names are looked up under
  // the lock too, so calls made together see each other's effects.

  /** Writes `data` at byte `offset` (any alignment; partial blocks are read, merged and written). */
  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#checkOpen();
    if (!(data instanceof Uint8Array)) throw invalidArgument('data must be a Uint8Array');
    this.#checkRange(offset, data.length);
    return this.#change(() => this.#write(offset, data));
  }

  /** Reads `length` bytes at `offset` of the live volume, or of a checkpoint's image. */
  async read(offset: number, length: number, options: { checkpoint?: string } = {}): Promise<Uint8Array> {
    this.#checkOpen();
    this.#checkRange(offset, length);
    const name = options.checkpoint;
    return this.#run(() => this.#read(offset, length, name === undefined ? null : this.#find(name)));
  }

  /** Marks whole blocks unused: they read as zeros. Offset and length are multiples of the block size. */
  async discard(offset: number, length: number): Promise<void> {
    this.#checkOpen();
    this.#checkRange(offset, length);
    if (offset % this.blockSize !== 0 || length % this.blockSize !== 0) {
      throw invalidArgument(`discard needs an offset and length that are multiples of the block size (${this.blockSize})`);
    }
    return this.#change(() => this.#discard(offset / this.blockSize, length / this.blockSize));
  }

  /** Freezes the live image as a checkpoint; the name defaults to <volume>.ckpt<seq>. */
  async createCheckpoint(name?: string): Promise<CheckpointInfo> {
    this.#checkOpen();
    // A name given is taken at once (names are unique in the volume, across calls in
    // flight); a default name is chosen under the lock.
    if (name !== undefined) this.#reserveName(this.#ownName(name));
    let chosen = name;
    try {
      return await this.#run(async () => {
        chosen ??= this.#reserveName(this.#defaultName());
        return infoOf(await createCheckpoint(this.#core, chosen, new Date()));
      });
    } finally {
      if (chosen !== undefined) this.#reserved.delete(chosen);
    }
  }

  /** rw (read-write), ro (read-only: writes are ERR_READ_ONLY) or raw (being rebuilt: no reads or writes). */
  get mode(): VolumeMode {
    return this.#core.record.mode ?? 'rw';
  }

  /** Changes the volume's mode, durably. */
  async setMode(mode: VolumeMode): Promise<void> {
    this.#checkOpen();
    if (!VOLUME_MODES.includes(mode)) throw invalidArgument(`mode must be one of ${VOLUME_MODES.join(', ')}, not ${String(mode)}`);
    return this.#run(async () => {
      if (this.mode !== mode) await commitRecord(this.#core, { ...this.#core.record, mode });
    });
  }

  /** The checkpoint queue, oldest first. */
  listCheckpoints(): CheckpointInfo[] {
    this.#checkOpen();
    return this.#core.checkpoints.map(infoOf);
  }

  async deleteCheckpoint(name: string): Promise<void> {
    this.#checkOpen();
    return this.#run(() => deleteCheckpoint(this.#core, this.#find(name)));
  }

  /**
   * Makes the live image (and its meta bit map) equal to the checkpoint's;
   * `onProgress` hears of the bytes written back as it goes.
   */
  async restore(name: string, options: { onProgress?: (bytes: number, total: number) => void; rebuild?: boolean } = {}): Promise<void> {
    this.#checkOpen();
    // A raw volume is being rebuilt (a resync undoing it): restoring is how it is rebuilt.
    if (options.rebuild && this.mode === 'raw') return this.#run(() => restoreCheckpoint(this.#core, this.#find(name), options.onProgress));
    return this.#change(() => restoreCheckpoint(this.#core, this.#find(name), options.onProgress));
  }

  /**
   * The exact size of delta(older, newer): newer left out is the live volume, older
   * null is the empty image (the delta is then a full copy).
   */
  async diffSize(older: string | null, newer?: string): Promise<DeltaSize> {
    this.#checkOpen();
    return this.#run(async () => {
      const plan = await planDelta(this.#core, ...this.#pair(older, newer));
      try {
        return deltaSize(this.#core, plan);
      } finally {
        plan.free();
      }
    });
  }

  /**
   * What a scan of delta(older, newer) reads: the stored pages of every bit map and
   * meta map it passes over (all-zero and all-one pages are not stored, so not read).
   * For measuring the scan (bench-diff); the delta itself is diffSize / diff.
   */
  async diffScanBytes(older: string | null, newer?: string): Promise<{ bitmapBytes: number; metaBytes: number }> {
    this.#checkOpen();
    return this.#run(async () => {
      const plan = await planDelta(this.#core, ...this.#pair(older, newer));
      try {
        const scans = [plan.data, plan.unused];
        const stored = (maps: typeof plan.data.bitmaps) => maps.reduce((n, map) => n + map.storedBytes(), 0);
        return {
          bitmapBytes: stored(scans.flatMap((s) => s.bitmaps)),
          metaBytes: stored(scans.flatMap((s) => (s.meta ? [...s.meta.metas, s.meta.live] : []))),
        };
      } finally {
        plan.free();
      }
    });
  }

  /** The extents of delta(older, newer), without data, in block order. */
  diff(older: string | null, newer?: string): AsyncGenerator<DeltaExtent> {
    return this.#locked(older, newer, (_core, plan) => deltaExtents(plan));
  }

  /**
   * delta(older, newer) with the newer image's data, in block order. With `transient`,
   * every chunk's data is one buffer reused, valid only until the next chunk is asked for.
   */
  delta(older: string | null, newer?: string, options: { transient?: boolean } = {}): AsyncGenerator<DeltaChunk> {
    return this.#locked(older, newer, (core, plan) => deltaChunks(core, plan, { transient: options.transient === true }));
  }

  /**
   * delta(older, newer) as a delta stream (the export-diff format), in pieces. With
   * `transient`, pieces share buffers and are valid only until the next is asked for
   * (write each out before the next): faster for large exports. A stream from the
   * live volume names a fresh image id unless the volume still equals a known image:
   * to go on with incremental streams later, export from checkpoints.
   */
  exportDiff(older: string | null, newer?: string, options: { transient?: boolean } & PlanOptions = {}): AsyncGenerator<Uint8Array> {
    const volume = this;
    return this.#locked(older, newer, async function* (core, plan) {
      const size = deltaSize(core, plan);
      const header: DeltaHeader = {
        volume: { name: volume.name, uuid: volume.uuid },
        from: plan.older ? { id: plan.older.record.image, name: plan.older.name } : { id: EMPTY_IMAGE, name: '(empty)' },
        to: plan.newer
          ? { id: plan.newer.record.image, name: plan.newer.name }
          : { id: core.record.base ?? newId(), name: '(live)' },
        blockSize: volume.blockSize, blocks: volume.blocks, granularity: volume.granularity,
        dataBlocks: size.dataBlocks, unusedBlocks: size.unusedBlocks,
      };
      const writer = new StreamWriter();
      yield writer.header(header);
      for await (const chunk of deltaChunks(core, plan, options)) yield* writer.record(chunk);
      yield writer.trailer();
    }, { coverBetween: options.coverBetween });
  }

  /**
   * Applies a delta stream whose base is this volume's image; atomic (see
   * checkpoint/import.ts). A stream whose result the volume already holds changes
   * nothing (`alreadyAt` says so). With `rollback` (as `zfs recv -F`), a volume that
   * changed since a checkpoint holding the stream's base is restored to it first, in
   * the same atomic change.
   */
  async importDiff(source: AsyncIterable<Uint8Array>, options: ImportOptions = {}): Promise<VolumeImportResult> {
    this.#checkOpen();
    if (source === null || typeof (source as AsyncIterable<Uint8Array>)?.[Symbol.asyncIterator] !== 'function') {
      throw invalidArgument('source must be an async iterable of Uint8Array pieces');
    }
    const vouched = options.bases ?? [];
    if (!Array.isArray(vouched) || vouched.some((b) => typeof b !== 'string')) throw invalidArgument('bases must be image ids');
    return this.#run(async () => {
      // Playback of a replica writes a read-only volume (that is how it stays a copy), and
      // a raw one is rebuilt by it (a resync).
      if (!options.replica) this.#checkWritable();
      const peeked = await peekHeader(source);
      const { header } = peeked;
      try {
        checkGeometry(this.#core, header);
        const ends = options.expect;
        if (ends && (header.from.id !== ends.from || header.to.id !== ends.to)) {
          throw new SnapcopyError('ERR_WRONG_BASE',
            `the stream goes from ${streamSide(header, 'from')} to ${streamSide(header, 'to')}, not the delta it was announced as`);
        }
      } catch (error) {
        await peeked.cancel();
        throw error;
      }
      const base = this.#core.record.base;
      if (base !== null && base === header.to.id) {
        await peeked.cancel();
        return { header, dataBlocks: 0, unusedBlocks: 0, alreadyAt: this.#labelOf(base, header) };
      }
      if (base === header.from.id) return importDiff(this.#core, peeked.stream);
      // The caller vouches that the stream applies to these images too (images between its
      // two ends on the source: a delta across an interval covers every part of it).
      if (base !== null && vouched.includes(base)) return importDiff(this.#core, peeked.stream, { base });
      const restorePoint = options.rollback
        ? this.#core.checkpoints.findLast((c) => c.record.image === header.from.id)
        : undefined;
      if (!restorePoint) {
        await peeked.cancel();
        throw this.#wrongBase(header, options.rollback === true);
      }
      const result = await importDiff(this.#core, peeked.stream, { rollbackTo: restorePoint });
      return { ...result, rolledBackTo: `${this.name}@${restorePoint.name}` };
    });
  }

  /**
   * For DataDir.clone: applies a delta already decoded (a checkpoint's blocks read
   * straight from its volume) to this volume, whose image must be the delta's base;
   * atomic, as importDiff.
   */
  async importRecords(source: DeltaRecords): Promise<ImportResult> {
    this.#checkOpen();
    return this.#change(() => importDiff(this.#core, source));
  }

  /** What a user can act on when a stream does not apply: what this volume holds, what the stream needs. */
  #wrongBase(header: DeltaHeader, triedRollback: boolean): SnapcopyError {
    const base = this.#core.record.base;
    const holds = base === null
      ? `${this.name} has been written since its last checkpoint or import`
      : `${this.name} holds ${this.#labelOf(base, header)}`;
    const needs = `this stream applies to ${streamSide(header, 'from')}`;
    const hint = triedRollback
      ? `; no checkpoint of ${this.name} holds that image, so --rollback cannot help`
      : this.#core.checkpoints.some((c) => c.record.image === header.from.id)
        ? `; a checkpoint of ${this.name} holds it: --rollback restores it first, losing what changed since`
        : '';
    return new SnapcopyError('ERR_WRONG_BASE', `${holds}; ${needs}${hint}`);
  }

  /** A person's name for image `id`: a checkpoint of this volume, the import's source name, or the stream's. */
  #labelOf(id: string, header?: DeltaHeader): string {
    if (id === EMPTY_IMAGE) return 'an empty image';
    const imported = this.#core.record.imported;
    if (imported?.id === id) return imported.name;
    const own = this.#core.checkpoints.findLast((c) => c.record.image === id);
    if (own) return `${this.name}@${own.name}`;
    if (header?.to.id === id) return streamSide(header, 'to');
    if (header?.from.id === id) return streamSide(header, 'from');
    return `image ${id}`;
  }

  /** Folds the log into the files, writes the tail's maps back, closes the files and lets go of the volume. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.closeKeepingLock();
    await this.#hooks.closed();
  }

  /** As close, but the process keeps the volume's lock (for the DataDir's rename and destroy). */
  closeKeepingLock(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return this.#lock.run(async () => {
      const core = this.#core;
      // Sealing and folding only speed up the next open; a full disk may refuse them.
      const tail = core.checkpoints[core.checkpoints.length - 1];
      if (!core.failed) {
        await tail?.seal().catch(() => undefined);
        await compactLogIfPossible(core, { shrink: true }).catch(() => undefined);
      }
      for (const ckpt of core.checkpoints) await ckpt.unload();
      mapCacheOf(core.arena).detach(core);
      await core.wal.close();
      await core.data.close();
      core.liveMeta.free();
    });
  }

  // Internal operations (validated by the caller, run under the lock).

  async #write(offset: number, data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    // Any write forgets the known image, even one that changes no block: what a caller
    // wrote is news to it (and a stream from the live volume then names a fresh image).
    await this.#forgetBase();
    const size = this.blockSize;
    const step = stepBlocks(this.#core);
    if (this.#compare && data.length > step * size) {
      // Only the bytes from the first to the last block that changes go on (nop-write).
      const changed = await this.#changedRange(offset, data);
      if (!changed) return;
      data = data.subarray(changed[0] - offset, changed[1] - offset);
      offset = changed[0];
    }
    // More than one step goes through a stage, so it is still one atomic change.
    if (data.length > step * size) {
      await stagedWrite(this.#core, offset, (async function* () { yield data; })(), { compare: this.#compare });
      return;
    }
    const core = this.#core;
    let first = Math.floor(offset / size);
    let end = Math.ceil((offset + data.length) / size);
    // A granule coming into use is written whole: its other blocks become zeros.
    const g = this.granularity;
    const granule = 2 ** g;
    if (!core.liveMeta.get(Math.floor(first / granule))) first = Math.floor(first / granule) * granule;
    if (!core.liveMeta.get(Math.floor((end - 1) / granule))) {
      end = Math.min(this.blocks, (Math.floor((end - 1) / granule) + 1) * granule);
    }
    for (let at = first; at < end; at += step) {
      const n = Math.min(step, end - at);
      const { bytes, unchanged } = await this.#stepImage(at, n, offset, data);
      // One log record from the first to the last block that changes; unchanged blocks
      // between them are rewritten as they are, with no before-image (so no bit).
      const [lo, hi] = unchanged ? changedSpan(unchanged) ?? [0, 0] : [0, n];
      if (lo === hi) continue;
      const g0 = Math.floor((at + lo) / granule);
      const g1 = Math.floor((at + hi - 1) / granule) + 1;
      await writeBlocks(core, at + lo, hi - lo, bytes.subarray(lo * size, hi * size),
        [{ type: 'meta-set', start: g0, count: g1 - g0 }], unchanged?.subarray(lo, hi));
    }
    await this.#maybeCompact();
  }

  /**
   * New content of blocks [at, at + n): the old content of partly written blocks, the
   * data over it; with nop-write on, which of them the write leaves as they are (the
   * whole step is read to compare, else only partly written blocks).
   */
  async #stepImage(at: number, n: number, offset: number, data: Uint8Array): Promise<{ bytes: Uint8Array; unchanged?: Uint8Array }> {
    const size = this.blockSize;
    const lo = at * size;
    const hi = lo + n * size;
    const dataEnd = offset + data.length;
    let bytes: Uint8Array;
    let unchanged: Uint8Array | undefined;
    if (this.#compare) {
      bytes = await readImage(this.#core, null, at, n);
      unchanged = unchangedBlocks(this.#core, at, n, bytes, data, offset);
      if (!changedSpan(unchanged)) return { bytes, unchanged }; // a nop: no need to lay the data over
    } else {
      bytes = new Uint8Array(n * size);
      // Old content only where the new data covers part of a block.
      for (const edge of [Math.floor(offset / size), Math.floor((dataEnd - 1) / size)]) {
        const edgeLo = edge * size;
        if (edgeLo < lo || edgeLo >= hi) continue;
        if (offset <= edgeLo && dataEnd >= edgeLo + size) continue;
        bytes.set(await readImage(this.#core, null, edge, 1), edgeLo - lo);
      }
    }
    const from = Math.max(lo, offset);
    const to = Math.min(hi, dataEnd);
    if (from < to) bytes.set(data.subarray(from - offset, to - offset), from - lo);
    return { bytes, unchanged };
  }

  /** Bytes [lo, hi) of the write from the first to the last block it changes, or undefined when it changes none. */
  async #changedRange(offset: number, data: Uint8Array): Promise<[number, number] | undefined> {
    const size = this.blockSize;
    const step = stepBlocks(this.#core);
    const first = Math.floor(offset / size);
    const end = Math.ceil((offset + data.length) / size);
    let lo: number | undefined;
    let hi = 0;
    for (let at = first; at < end; at += step) {
      const n = Math.min(step, end - at);
      const current = await readImage(this.#core, null, at, n);
      const span = changedSpan(unchangedBlocks(this.#core, at, n, current, data, offset));
      if (!span) continue;
      lo ??= at + span[0];
      hi = at + span[1];
    }
    if (lo === undefined) return undefined;
    return [Math.max(offset, lo * size), Math.min(offset + data.length, hi * size)];
  }

  async #read(offset: number, length: number, ckpt: Checkpoint | null): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const size = this.blockSize;
    const first = Math.floor(offset / size);
    const end = Math.ceil((offset + length) / size);
    const step = stepBlocks(this.#core);
    const source = await openImage(this.#core, ckpt);
    try {
      for (let at = first; at < end; at += step) {
        const n = Math.min(step, end - at);
        const image = await readFrom(source, at, n);
        const lo = Math.max(offset, at * size);
        const hi = Math.min(offset + length, (at + n) * size);
        out.set(image.subarray(lo - at * size, hi - at * size), lo - offset);
      }
    } finally {
      await source.close();
    }
    return out;
  }

  async #discard(first: number, count: number): Promise<void> {
    if (count === 0) return;
    await this.#forgetBase();
    const core = this.#core;
    const g = this.granularity;
    const end = first + count;
    // Whole granules stop being in use; the discarded blocks of a partly discarded
    // granule that is in use are written with zeros, so reads are exact at any g.
    // Only the first and the last granule can be partly discarded.
    const granule = 2 ** g;
    const span = (q: number) => ({ lo: Math.max(first, q * granule), hi: Math.min(end, (q + 1) * granule) });
    const whole = (q: number) => {
      const { lo, hi } = span(q);
      return lo === q * granule && hi === Math.min((q + 1) * granule, this.blocks);
    };
    const firstGranule = Math.floor(first / granule);
    const lastGranule = Math.floor((end - 1) / granule);
    const wholeFrom = whole(firstGranule) ? firstGranule : firstGranule + 1;
    const wholeTo = whole(lastGranule) ? lastGranule + 1 : lastGranule;
    const partial = [...new Set([firstGranule, lastGranule])].filter((q) => !whole(q));
    for (const q of partial) {
      const { lo, hi } = span(q);
      if (core.liveMeta.get(q)) await writeBlocks(core, lo, hi - lo, null);
    }
    if (wholeFrom < wholeTo) await writeMeta(core, [{ type: 'meta-clear', start: wholeFrom, count: wholeTo - wholeFrom }]);
    await this.#maybeCompact();
  }

  /** The live image is about to change: it no longer equals a known image. */
  async #forgetBase(): Promise<void> {
    if (this.#core.record.base !== null) await commitRecord(this.#core, { ...this.#core.record, base: null });
  }

  async #maybeCompact(): Promise<void> {
    if (this.#core.wal.bytes > LOG_LIMIT) await compactLogIfPossible(this.#core);
  }

  // Validation and locking.

  #checkOpen(): void {
    if (this.#closed) throw new SnapcopyError('ERR_CLOSED', `volume ${this.name} is closed`);
  }

  #checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw invalidArgument(`offset and length must be whole numbers of bytes, not ${offset} and ${length}`);
    }
    if (offset + length > this.size) {
      throw outOfRange(`bytes [${offset}, ${offset + length}) are past the end of ${this.name} (${this.size} bytes)`);
    }
  }

  /** Takes a checkpoint name for a call in flight, or throws ERR_EXISTS. */
  #reserveName(name: string): string {
    if (this.#reserved.has(name) || this.#core.checkpoints.some((c) => c.name === name)) {
      throw new SnapcopyError('ERR_EXISTS', `${this.name}@${name} exists already`);
    }
    this.#reserved.add(name);
    return name;
  }

  /** `<volume>.ckpt<seq>`, or the next free sequence number after it. */
  #defaultName(): string {
    let seq = this.#core.record.nextSeq;
    const taken = (name: string) => this.#reserved.has(name) || this.#core.checkpoints.some((c) => c.name === name);
    while (taken(`${this.name}.ckpt${seq}`)) seq++;
    return `${this.name}.ckpt${seq}`;
  }

  /** A checkpoint name given as `name` or `<this volume>@name`: the name. */
  #ownName(spec: string): string {
    const { volume, checkpoint } = parseCheckpointSpec(spec);
    if (volume !== undefined && volume !== this.name) {
      throw invalidArgument(`${spec} is a checkpoint of ${volume}, not of ${this.name}`);
    }
    return checkpoint;
  }

  #find(spec: string): Checkpoint {
    const name = this.#ownName(spec);
    const ckpt = this.#core.checkpoints.find((c) => c.name === name);
    if (!ckpt) throw notFound(`volume ${this.name} has no checkpoint named ${name}`);
    return ckpt;
  }

  #pair(older: string | null, newer?: string): [Checkpoint | null, Checkpoint | null] {
    this.#checkOpen();
    const l = older === null ? null : this.#find(older);
    const m = newer === undefined ? null : this.#find(newer);
    if (!l) return [l, m];
    const li = this.#core.checkpoints.indexOf(l);
    const mi = m ? this.#core.checkpoints.indexOf(m) : this.#core.checkpoints.length;
    if (mi <= li) {
      throw new SnapcopyError('ERR_NOT_YOUNGER', `${newer ?? 'the live volume'} is not younger than ${older}: name the older checkpoint first`);
    }
    return [l, m];
  }

  /** An operation that changes the image: refused unless the volume is read-write. */
  #change<T>(operation: () => Promise<T>): Promise<T> {
    return this.#run(() => {
      this.#checkWritable();
      return operation();
    });
  }

  #checkWritable(): void {
    if (this.mode !== 'rw') throw this.#notWritable();
  }

  #notWritable(): SnapcopyError {
    return this.mode === 'raw'
      ? new SnapcopyError('ERR_RAW', `volume ${this.name} is raw (being rebuilt): it can be neither read nor written`)
      : new SnapcopyError('ERR_READ_ONLY', `volume ${this.name} is read-only`);
  }

  #run<T>(operation: () => Promise<T>): Promise<T> {
    const guarded = async () => {
      this.#checkUsable();
      // The maps it stages stay pinned until it ends; then staged maps go back under the cap.
      const maps = mapCacheOf(this.#core.arena);
      maps.begin(this.#core);
      try {
        return await operation();
      } finally {
        await maps.end(this.#core);
      }
    };
    return this.#lock.run(guarded).catch((error: unknown) => {
      throw storageError(error, this.name);
    });
  }

  /**
   * An iteration over delta(older, newer) that holds the lock from its first step to
   * its end (or its early return): names are resolved and the maps staged under it.
   */
  #locked<T>(
    older: string | null, newer: string | undefined,
    body: (core: VolumeCore, plan: DeltaPlan) => Iterable<T> | AsyncIterable<T>,
    planOptions: PlanOptions = {},
  ): AsyncGenerator<T> {
    const lock = this.#lock;
    const core = this.#core;
    const resolve = () => {
      this.#checkOpen();
      this.#checkUsable();
      return this.#pair(older, newer);
    };
    return (async function* () {
      const release = await lock.acquire();
      const maps = mapCacheOf(core.arena);
      maps.begin(core);
      try {
        const plan = await planDelta(core, ...resolve(), planOptions);
        try {
          yield* body(core, plan);
        } finally {
          plan.free();
        }
      } finally {
        await maps.end(core).finally(release);
      }
    })();
  }

  /** After a storage error that may have left files and memory apart, nothing runs until a reopen. */
  #checkUsable(): void {
    if (this.#core.failed) {
      throw new SnapcopyError('ERR_IO', `volume ${this.name} hit a storage error and must be reopened`, { cause: this.#core.failed });
    }
  }

  // Whole-input writes, resize (the storage engine's everyday work).

  /**
   * Writes the bytes of `source` at byte `offset` as one atomic change, however many
   * there are: staged first, then committed and applied at once (a crash leaves the
   * volume wholly before or wholly after it). An input that runs past the end of the
   * volume, or does not hold `options.size` bytes when that is given, changes nothing
   * (ERR_OUT_OF_RANGE, ERR_INVALID_ARGUMENT). Returns the bytes written.
   */
  async writeFrom(offset: number, source: AsyncIterable<Uint8Array>, options: WriteFromOptions = {}): Promise<number> {
    this.#checkOpen();
    if (source === null || typeof (source as AsyncIterable<Uint8Array>)?.[Symbol.asyncIterator] !== 'function') {
      throw invalidArgument('source must be an async iterable of Uint8Array pieces');
    }
    const { size, onProgress, compare } = options;
    if (compare !== undefined && typeof compare !== 'boolean') throw invalidArgument('compare must be true or false');
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
      throw invalidArgument(`size must be a whole number of bytes, not ${size}`);
    }
    if (onProgress !== undefined && typeof onProgress !== 'function') throw invalidArgument('onProgress must be a function');
    this.#checkRange(offset, size ?? 0);
    return this.#change(() => stagedWrite(this.#core, offset, source, { size, onProgress, compare: compare ?? this.#compare }));
  }

  /**
   * Makes the volume `size` bytes long (a positive multiple of the block size). Growing
   * adds blocks that read as zeros, in the live volume and in every checkpoint;
   * shrinking is refused (ERR_IN_USE) while a block to be cut off is in use in the
   * live volume or in any checkpoint.
   */
  async resize(size: number): Promise<void> {
    this.#checkOpen();
    const blockSize = this.blockSize;
    if (!Number.isSafeInteger(size) || size <= 0 || size % blockSize !== 0) {
      throw invalidArgument(`size must be a positive multiple of the block size (${blockSize}), not ${size}`);
    }
    if (size / blockSize > MAX_BLOCKS) throw invalidArgument(`a volume holds at most ${MAX_BLOCKS} blocks`);
    return this.#change(() => resizeVolume(this.#core, size / blockSize));
  }
}

export type VolumeMode = 'rw' | 'ro' | 'raw';
export const VOLUME_MODES: readonly VolumeMode[] = ['rw', 'ro', 'raw'];

export interface ImportOptions {
  /** Restore the checkpoint that holds the stream's base first (as zfs recv -F). */
  rollback?: boolean;
  /**
   * Image ids the caller vouches the stream also applies to: images between its two
   * ends on the source (replication sends one delta to replicas at different points).
   */
  bases?: string[];
  /** Playback into a replica: allowed while the volume is read-only. */
  replica?: boolean;
  /** The image ids the stream must go from and to (a replica checks the set is the one announced). */
  expect?: { from: string; to: string };
}

/** An import's outcome: what was applied, or that the volume already held the result. */
export interface VolumeImportResult extends ImportResult {
  /** Set when nothing was applied because the volume already holds the stream's result (`vol@tuesday`). */
  alreadyAt?: string;
  /** Set when a rollback restored this checkpoint first. */
  rolledBackTo?: string;
}

/** `vol@monday` for one end of a stream, from its header. */
function streamSide(header: DeltaHeader, side: 'from' | 'to'): string {
  const end = header[side];
  if (end.id === EMPTY_IMAGE) return 'an empty image';
  return end.name.startsWith('(') ? `${header.volume.name} ${end.name}` : `${header.volume.name}@${end.name}`;
}

/** A full disk is an error users match on, with what ran out in the message. */
function storageError(error: unknown, volume: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new SnapcopyError('ERR_NO_SPACE', `no space left for volume ${volume}: nothing was changed`, { cause: error });
  }
  return error;
}

function infoOf(ckpt: Checkpoint): CheckpointInfo {
  const r = ckpt.record;
  return { name: r.name, id: r.id, image: r.image, seq: r.seq, created: r.created };
}
