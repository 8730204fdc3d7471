// A data directory: volumes side by side, each under its own lock, so processes work
// on different volumes at once. A running node owns the whole directory (it holds
// <data>/node's lock); other processes are then sent to it (--node) instead.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Arena, type ArenaOptions } from '../arena/arena.js';
import { mapCacheOf } from '../checkpoint/checkpoint.js';
import type { DeltaChunk } from '../checkpoint/delta.js';
import type { DeltaHeader } from '../checkpoint/delta-stream.js';
import { SnapcopyError, corrupt, invalidArgument, notFound } from '../errors.js';
import { MAX_BLOCKS, MAX_GRANULARITY } from '../kernels/api.js';
import { exists, listDir, makeDir, readFileOrUndefined, removeTree, syncDir, writeFileAtomic } from '../storage/file.js';
import { type DirLock, lockDir, lockHolder } from '../storage/lock.js';
import { diskUsage } from '../storage/usage.js';
import { checkName, EMPTY_IMAGE, newId, type VolumeRecord, volumePaths } from '../engine/layout.js';
import { type CheckpointSpec, fullName, parseCheckpointSpec } from './names.js';
import { createVolumeFiles, openVolumeCore } from '../engine/open.js';
import { type CheckpointInfo, Volume, type VolumeMode } from './volume.js';

export interface DataDirOptions extends ArenaOptions {
  /** Create the directory when it does not exist (default true). */
  create?: boolean;
  /** Seconds to wait for a volume that another process holds (default 0: fail at once with ERR_LOCKED). */
  wait?: number;
  /**
   * Set by the node that owns the directory. Without it, opening a directory that a
   * running node owns is refused: its volumes are reached through the node.
   */
  ownedByNode?: boolean;
  /**
   * Nop-write (default true): writes compare each block with what the volume holds and
   * skip the unchanged ones (neither saved, marked nor written), so rewriting a whole
   * file gives a delta of the blocks that really differ. Off, a write of unchanged data
   * costs a durable write instead of a read.
   */
  compareBeforeWrite?: boolean;
  /**
   * Bytes of staged checkpoint maps kept in memory across operations (default 256 MiB):
   * past it, the least recently used are freed (tails' maps stay; one operation may
   * need more while it runs).
   */
  mapCacheBytes?: number;
}

export interface VolumeOptions {
  /** Size in bytes: a multiple of the block size. */
  size: number;
  /** A power of two from 512 bytes to 1 MiB; default 8 KiB. */
  blockSize?: number;
  /** Meta bit map granularity: one bit per 2^g blocks, g = 0..6; default 0. */
  granularity?: number;
}

/** What `list` and `info` say of a volume (read from its files, without locking it). */
export interface VolumeInfo {
  name: string;
  uuid: string;
  /** Bytes. */
  size: number;
  blocks: number;
  blockSize: number;
  granularity: number;
  created: string;
  /** Bytes the volume's files take on disk (allocated blocks). */
  usedBytes: number;
  /** The image id the live volume equals, or null once written since. */
  base: string | null;
  /** rw, ro or raw (server_mount). */
  mode: VolumeMode;
  checkpoints: CheckpointInfo[];
}

export const DEFAULT_BLOCK_SIZE = 8192;

/** Progress of long work: called with the bytes just done, and the total expected. */
export type OnProgress = (bytes: number, total: number) => void;

/** Passes pieces through, telling `onProgress` how many bytes went by. */
async function* counted(pieces: AsyncIterable<Uint8Array>, total: number, onProgress?: OnProgress): AsyncGenerator<Uint8Array> {
  for await (const piece of pieces) {
    onProgress?.(piece.length, total);
    yield piece;
  }
}

/** Passes delta chunks through, telling `onProgress` how many bytes of data went by. */
async function* countedChunks(chunks: AsyncIterable<DeltaChunk>, total: number, onProgress?: OnProgress): AsyncGenerator<DeltaChunk> {
  for await (const chunk of chunks) {
    if (chunk.data) onProgress?.(chunk.data.length, total);
    yield chunk;
  }
}

/** Directories under volumes/ that start with this are volumes being destroyed. */
const DESTROYING = '.destroy-';

export class DataDir {
  readonly arena: Arena;
  readonly #wait: number;
  readonly #compareBeforeWrite: boolean;
  #open = true;
  #volumes = new Map<string, Volume>();

  private constructor(readonly path: string, arena: Arena, wait: number, compareBeforeWrite: boolean) {
    this.arena = arena;
    this.#wait = wait;
    this.#compareBeforeWrite = compareBeforeWrite;
  }

  static async open(path: string, options: DataDirOptions = {}): Promise<DataDir> {
    if (typeof path !== 'string' || path === '') throw invalidArgument('a data directory path is needed');
    const wait = options.wait ?? 0;
    const cap = options.mapCacheBytes;
    if (cap !== undefined && (!Number.isSafeInteger(cap) || cap < 0)) {
      throw invalidArgument(`mapCacheBytes must be a whole number of bytes, not ${cap}`);
    }
    if (options.compareBeforeWrite !== undefined && typeof options.compareBeforeWrite !== 'boolean') {
      throw invalidArgument('compareBeforeWrite must be true or false');
    }
    if (!Number.isFinite(wait) || wait < 0) throw invalidArgument(`wait must be a number of seconds, not ${wait}`);
    if (!(await exists(path))) {
      if (options.create === false) throw notFound(`data directory ${path} does not exist`);
      await makeDir(path);
    }
    if (!options.ownedByNode) {
      const node = await lockHolder(join(path, 'node'));
      if (node !== undefined) {
        throw new SnapcopyError('ERR_LOCKED',
          `data directory ${path} is served by a running node (process ${node}): send volume commands to it with --node <name|host:port>`);
      }
    }
    await removeDestroyed(join(path, 'volumes'));
    const arena = new Arena(options);
    if (options.mapCacheBytes !== undefined) mapCacheOf(arena).capBytes = options.mapCacheBytes;
    return new DataDir(path, arena, wait, options.compareBeforeWrite ?? true);
  }

  get #volumesDir(): string {
    return join(this.path, 'volumes');
  }

  #dirOf(name: string): string {
    return join(this.#volumesDir, name);
  }

  /** Names of the volumes, sorted. */
  async volumeNames(): Promise<string[]> {
    this.#checkOpen();
    const names = [];
    for (const name of await listDir(this.#volumesDir)) {
      if (name.startsWith('.')) continue;
      if (await exists(volumePaths(this.#dirOf(name)).record)) names.push(name);
    }
    return names.sort();
  }

  /** What a volume is and what it costs on disk, read without locking it. */
  async info(name: string): Promise<VolumeInfo> {
    this.#checkOpen();
    const record = await this.#readRecord(checkName('volume', name));
    return {
      name, uuid: record.uuid, size: record.blocks * record.blockSize, blocks: record.blocks,
      blockSize: record.blockSize, granularity: record.granularity, created: record.created,
      usedBytes: await diskUsage(this.#dirOf(name)), base: record.base, mode: record.mode ?? 'rw',
      checkpoints: record.checkpoints.map((c) => ({ name: c.name, id: c.id, image: c.image, seq: c.seq, created: c.created })),
    };
  }

  /** `info` of every volume, sorted by name. */
  async list(): Promise<VolumeInfo[]> {
    const infos = [];
    for (const name of await this.volumeNames()) {
      try {
        infos.push(await this.info(name));
      } catch (error) {
        if ((error as SnapcopyError).code !== 'ERR_NOT_FOUND') throw error; // destroyed while we looked
      }
    }
    return infos;
  }

  async createVolume(name: string, options: VolumeOptions): Promise<Volume> {
    this.#checkOpen();
    checkName('volume', name);
    const { blockSize, granularity, size } = checkGeometry(options);
    const dir = this.#dirOf(name);
    if (this.#volumes.has(name) || (await exists(volumePaths(dir).record))) {
      throw new SnapcopyError('ERR_EXISTS', `volume ${name} exists already`);
    }
    await makeDir(dir);
    const lock = await this.#lock(name);
    try {
      if (await exists(volumePaths(dir).record)) throw new SnapcopyError('ERR_EXISTS', `volume ${name} exists already`);
      await clearExceptLock(dir); // what a crash before the commit of an earlier create left
      const record: VolumeRecord = {
        format: 1, uuid: newId(), name, blocks: size / blockSize, blockSize, granularity,
        created: new Date().toISOString(), nextSeq: 1, checkpoints: [], base: EMPTY_IMAGE,
      };
      await createVolumeFiles(dir, record, this.arena);
      return await this.#adopt(name, lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** Opens a volume (once; later calls return the same object), locking it against other processes. */
  async volume(name: string): Promise<Volume> {
    this.#checkOpen();
    checkName('volume', name);
    const open = this.#volumes.get(name);
    if (open) return open;
    if (!(await exists(volumePaths(this.#dirOf(name)).record))) throw notFound(`there is no volume named ${name}`);
    const lock = await this.#lock(name);
    try {
      if (!(await exists(volumePaths(this.#dirOf(name)).record))) throw notFound(`there is no volume named ${name}`);
      return await this.#adopt(name, lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  async #adopt(name: string, lock: DirLock): Promise<Volume> {
    const core = await openVolumeCore(this.#dirOf(name), this.arena);
    core.record = { ...core.record, name }; // the directory's name wins after a rename cut short
    const volume = new Volume(core, {
      closed: async () => {
        this.#volumes.delete(name);
        await lock.release();
      },
    }, { compareBeforeWrite: this.#compareBeforeWrite });
    this.#volumes.set(name, volume);
    return volume;
  }

  #lock(name: string): Promise<DirLock> {
    return lockDir(this.#dirOf(name), { waitSeconds: this.#wait, what: `volume ${name}` });
  }

  /**
   * Removes a volume. One with checkpoints is refused (ERR_HAS_CHECKPOINTS) unless
   * `recursive`: its checkpoints go with it. The directory is renamed away first, so
   * a crash never leaves half a volume under its name.
   */
  async destroy(name: string, options: { recursive?: boolean } = {}): Promise<{ checkpoints: number }> {
    const volume = await this.volume(name);
    const checkpoints = volume.listCheckpoints().length;
    if (checkpoints > 0 && !options.recursive) {
      throw new SnapcopyError('ERR_HAS_CHECKPOINTS',
        `volume ${name} has ${checkpoints} checkpoint(s) (${volume.listCheckpoints().map((c) => fullName(name, c.name)).join(', ')}): `
        + 'delete them first, or destroy with -r to remove them too');
    }
    await volume.closeKeepingLock();
    const graveyard = join(this.#volumesDir, `${DESTROYING}${volume.uuid}`);
    await fs.rename(this.#dirOf(name), graveyard);
    await syncDir(this.#volumesDir);
    this.#volumes.delete(name);
    await removeTree(graveyard); // the lock file goes with it
    return { checkpoints };
  }

  /** Renames a volume (its checkpoints keep their names: `new@name`). */
  async rename(name: string, to: string): Promise<void> {
    checkName('volume', to);
    if (name === to) throw invalidArgument(`volume ${name} already has that name`);
    const volume = await this.volume(name);
    const target = this.#dirOf(to);
    if (await exists(volumePaths(target).record)) throw new SnapcopyError('ERR_EXISTS', `volume ${to} exists already`);
    const holder = await lockHolder(target);
    if (holder !== undefined) throw new SnapcopyError('ERR_LOCKED', `volume ${to} is being created by process ${holder}`);
    await removeTree(target); // left by a create that never committed
    await volume.closeKeepingLock();
    this.#volumes.delete(name);
    // The lock file moves with the directory: this process still holds it, now as `to`.
    await fs.rename(this.#dirOf(name), target);
    await syncDir(this.#volumesDir);
    try {
      const record = await this.#readRecord(to);
      await writeFileAtomic(volumePaths(target).record, `${JSON.stringify({ ...record, name: to }, null, 2)}\n`);
    } finally {
      await fs.rm(join(target, 'LOCK'), { force: true });
    }
  }

  /**
   * Finds the checkpoint a spec names: `fs@name`, or a bare name that only one volume
   * has (several: ERR_AMBIGUOUS, listing them). `volume` is the volume the command
   * names, if any: a bare name is then looked up there.
   */
  async findCheckpoint(spec: string, volume?: string): Promise<{ volume: string; checkpoint: string }> {
    this.#checkOpen();
    const parsed: CheckpointSpec = parseCheckpointSpec(spec);
    if (parsed.volume !== undefined) {
      if (volume !== undefined && parsed.volume !== volume) {
        throw invalidArgument(`${spec} is a checkpoint of ${parsed.volume}, not of ${volume}`);
      }
      const record = await this.#readRecord(parsed.volume);
      if (!record.checkpoints.some((c) => c.name === parsed.checkpoint)) {
        throw notFound(`volume ${parsed.volume} has no checkpoint named ${parsed.checkpoint}`);
      }
      return { volume: parsed.volume, checkpoint: parsed.checkpoint };
    }
    if (volume !== undefined) return this.findCheckpoint(fullName(volume, parsed.checkpoint));
    const holders = [];
    for (const name of await this.volumeNames()) {
      const record = await this.#readRecord(name).catch(() => undefined);
      if (record?.checkpoints.some((c) => c.name === parsed.checkpoint)) holders.push(name);
    }
    if (holders.length === 0) throw notFound(`there is no checkpoint named ${parsed.checkpoint}`);
    if (holders.length > 1) {
      throw new SnapcopyError('ERR_AMBIGUOUS',
        `checkpoint ${parsed.checkpoint} is in more than one volume (${holders.map((v) => fullName(v, parsed.checkpoint)).join(', ')}): name one as <fs>@<name>`);
    }
    return { volume: holders[0]!, checkpoint: parsed.checkpoint };
  }

  /** The open volume holding the checkpoint a spec names, and the checkpoint's name in it. */
  async volumeOfCheckpoint(spec: string, volume?: string): Promise<{ volume: Volume; checkpoint: string }> {
    const found = await this.findCheckpoint(spec, volume);
    return { volume: await this.volume(found.volume), checkpoint: found.checkpoint };
  }

  /**
   * A new volume holding checkpoint `checkpoint`'s image (a full delta, imported
   * atomically); its base is that image, so later deltas of the source apply to it.
   * A clone that fails leaves no volume behind.
   */
  async clone(checkpoint: string, name: string, options: { onProgress?: OnProgress } = {}): Promise<Volume> {
    const { volume: source, checkpoint: ckpt } = await this.volumeOfCheckpoint(checkpoint);
    checkName('volume', name);
    const size = await source.diffSize(null, ckpt);
    const header: DeltaHeader = {
      volume: { name: source.name, uuid: source.uuid },
      from: { id: EMPTY_IMAGE, name: '(empty)' },
      to: { id: source.listCheckpoints().find((c) => c.name === ckpt)!.image, name: ckpt },
      blockSize: source.blockSize, blocks: source.blocks, granularity: source.granularity,
      dataBlocks: size.dataBlocks, unusedBlocks: size.unusedBlocks,
    };
    // The blocks go straight from the checkpoint into the new volume's file through one
    // reused buffer: no stream to write, checksum and parse, and no buffer per piece.
    const records = countedChunks(source.delta(null, ckpt, { transient: true }), size.dataBytes, options.onProgress);
    return this.#createFilled(name, source, (target) => target.importRecords({ header, records, transient: true }));
  }

  /**
   * A new volume made from a full stream (one whose base is the empty image), its
   * geometry taken from the stream's header. Nothing is left behind when it fails.
   */
  async createFromStream(name: string, header: DeltaHeader, source: AsyncIterable<Uint8Array>): Promise<Volume> {
    checkName('volume', name);
    if (header.from.id !== EMPTY_IMAGE) {
      throw new SnapcopyError('ERR_WRONG_BASE',
        `volume ${name} does not exist, and this stream is incremental (it applies to ${header.volume.name}@${header.from.name}): `
        + 'create the volume from a full stream (export-diff <fs>@<ckpt> with no older checkpoint)');
    }
    const geometry = { size: header.blocks * header.blockSize, blockSize: header.blockSize, granularity: header.granularity };
    return this.#createFilled(name, geometry, (target) => target.importDiff(source));
  }

  /** Creates volume `name` shaped like `like` and fills it; on failure it is destroyed again. */
  async #createFilled(name: string, like: VolumeOptions, fill: (volume: Volume) => Promise<unknown>): Promise<Volume> {
    const target = await this.createVolume(name, { size: like.size, blockSize: like.blockSize, granularity: like.granularity });
    try {
      await fill(target);
    } catch (error) {
      await this.destroy(name).catch(() => undefined);
      throw error;
    }
    return target;
  }

  /**
   * fs_copy: brings volume `target` from checkpoint `older`'s image to `newer`'s with
   * their delta (both checkpoints of one volume). A target that does not exist yet is
   * made as a clone of `newer` (a full copy). Returns what was copied.
   */
  async copyDelta(
    newer: string, target: string, older: string, options: { onProgress?: OnProgress } = {},
  ): Promise<{ full: boolean; dataBlocks: number; unusedBlocks: number }> {
    const { volume: source, checkpoint: newerName } = await this.volumeOfCheckpoint(newer);
    const { checkpoint: olderName } = await this.volumeOfCheckpoint(older, source.name);
    checkName('volume', target);
    const total = (await source.diffSize(olderName, newerName)).dataBytes; // refuses older not older (ERR_NOT_YOUNGER)
    if (!(await this.volumeNames()).includes(target)) {
      const size = await source.diffSize(null, newerName);
      await this.clone(fullName(source.name, newerName), target, options);
      return { full: true, dataBlocks: size.dataBlocks, unusedBlocks: size.unusedBlocks };
    }
    const result = await (await this.volume(target)).importDiff(counted(source.exportDiff(olderName, newerName), total, options.onProgress));
    return { full: false, dataBlocks: result.dataBlocks, unusedBlocks: result.unusedBlocks };
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    for (const volume of [...this.#volumes.values()]) await volume.close();
    this.#volumes.clear();
  }

  async #readRecord(name: string): Promise<VolumeRecord> {
    const path = volumePaths(this.#dirOf(name)).record;
    const bytes = await readFileOrUndefined(path);
    if (!bytes) throw notFound(`there is no volume named ${name}`);
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as VolumeRecord;
    } catch {
      throw corrupt(`${path} is not valid JSON`);
    }
  }

  #checkOpen(): void {
    if (!this.#open) throw new SnapcopyError('ERR_CLOSED', `data directory ${this.path} is closed`);
  }
}

function checkGeometry(options: VolumeOptions): { blockSize: number; granularity: number; size: number } {
  if (typeof options !== 'object' || options === null) throw invalidArgument('volume options are needed ({ size })');
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  const granularity = options.granularity ?? 0;
  if (!Number.isInteger(blockSize) || blockSize < 512 || blockSize > 1 << 20 || (blockSize & (blockSize - 1)) !== 0) {
    throw invalidArgument(`block size must be a power of two from 512 to 1048576 bytes, not ${blockSize}`);
  }
  if (!Number.isInteger(granularity) || granularity < 0 || granularity > MAX_GRANULARITY) {
    throw invalidArgument(`meta granularity must be 0..${MAX_GRANULARITY}, not ${granularity}`);
  }
  const size = options.size;
  if (!Number.isSafeInteger(size) || size <= 0 || size % blockSize !== 0) {
    throw invalidArgument(`size must be a positive multiple of the block size (${blockSize}), not ${size}`);
  }
  if (size / blockSize > MAX_BLOCKS) throw invalidArgument(`a volume holds at most ${MAX_BLOCKS} blocks`);
  return { blockSize, granularity, size };
}

/** Empties a volume directory of what an uncommitted create left, keeping our lock file. */
async function clearExceptLock(dir: string): Promise<void> {
  for (const entry of await listDir(dir)) {
    if (entry !== 'LOCK') await removeTree(join(dir, entry));
  }
}

/** Leftovers of destroys cut short by a crash: removed by whoever opens the directory next. */
async function removeDestroyed(volumesDir: string): Promise<void> {
  for (const entry of await listDir(volumesDir)) {
    if (entry.startsWith(DESTROYING)) await removeTree(join(volumesDir, entry));
  }
}
