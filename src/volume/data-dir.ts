// A data directory: the volumes of one node, under one lock. It keeps the index of
// checkpoint names (unique in the directory) and opens each volume once.

import { join } from 'node:path';
import { Arena, type ArenaOptions } from '../arena/arena.js';
import { SnapcopyError, corrupt, invalidArgument, notFound } from '../errors.js';
import { MAX_BLOCKS, MAX_GRANULARITY } from '../kernels/api.js';
import type { DirLock } from '../storage/lock.js';
import { lockDir } from '../storage/lock.js';
import { exists, listDir, makeDir, readFileOrUndefined, removeTree } from '../storage/file.js';
import { checkName, EMPTY_IMAGE, newId, type VolumeRecord, volumePaths } from './layout.js';
import { createVolumeFiles, openVolumeCore } from './open.js';
import { type NameIndex, Volume } from './volume.js';

export interface DataDirOptions extends ArenaOptions {
  /** Create the directory when it does not exist (default true). */
  create?: boolean;
}

export interface VolumeOptions {
  /** Size in bytes: a multiple of the block size. */
  size: number;
  /** A power of two from 512 bytes to 1 MiB; default 8 KiB. */
  blockSize?: number;
  /** Meta bit map granularity: one bit per 2^g blocks, g = 0..6; default 0. */
  granularity?: number;
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

export class DataDir {
  readonly arena: Arena;
  #lock: DirLock | undefined;
  #volumes = new Map<string, Volume>();
  #names = new Map<string, string>();
  readonly #nameIndex: NameIndex = {
    has: (name) => this.#names.has(name),
    add: (name, volume) => void this.#names.set(name, volume),
    delete: (name) => void this.#names.delete(name),
  };

  private constructor(readonly path: string, arena: Arena, lock: DirLock) {
    this.arena = arena;
    this.#lock = lock;
  }

  static async open(path: string, options: DataDirOptions = {}): Promise<DataDir> {
    if (typeof path !== 'string' || path === '') throw invalidArgument('a data directory path is needed');
    if (!(await exists(path))) {
      if (options.create === false) throw notFound(`data directory ${path} does not exist`);
      await makeDir(path);
    }
    const arena = new Arena(options);
    const lock = await lockDir(path);
    const dir = new DataDir(path, arena, lock);
    try {
      await dir.#index();
    } catch (error) {
      await lock.release();
      throw error;
    }
    return dir;
  }

  get #volumesDir(): string {
    return join(this.path, 'volumes');
  }

  async #index(): Promise<void> {
    for (const name of await listDir(this.#volumesDir)) {
      const bytes = await readFileOrUndefined(volumePaths(join(this.#volumesDir, name)).record);
      if (!bytes) continue; // a volume whose creation did not commit
      let record: VolumeRecord;
      try {
        record = JSON.parse(new TextDecoder().decode(bytes)) as VolumeRecord;
      } catch {
        throw corrupt(`${volumePaths(join(this.#volumesDir, name)).record} is not valid JSON`);
      }
      for (const ckpt of record.checkpoints) this.#names.set(ckpt.name, record.name);
    }
  }

  /** Names of the volumes, sorted. */
  async volumeNames(): Promise<string[]> {
    this.#checkOpen();
    const names = [];
    for (const name of await listDir(this.#volumesDir)) {
      if (await exists(volumePaths(join(this.#volumesDir, name)).record)) names.push(name);
    }
    return names.sort();
  }

  async createVolume(name: string, options: VolumeOptions): Promise<Volume> {
    this.#checkOpen();
    checkName('volume', name);
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
    const dir = join(this.#volumesDir, name);
    if (await exists(volumePaths(dir).record)) throw new SnapcopyError('ERR_EXISTS', `volume ${name} exists already`);
    await removeTree(dir); // what a crash before the commit of an earlier create left
    const record: VolumeRecord = {
      format: 1, uuid: newId(), name, blocks: size / blockSize, blockSize, granularity,
      created: new Date().toISOString(), nextSeq: 1, checkpoints: [], base: EMPTY_IMAGE,
    };
    await createVolumeFiles(dir, record, this.arena);
    return this.volume(name);
  }

  /** Opens a volume (once; later calls return the same object). */
  async volume(name: string): Promise<Volume> {
    this.#checkOpen();
    checkName('volume', name);
    let volume = this.#volumes.get(name);
    if (!volume) {
      const dir = join(this.#volumesDir, name);
      if (!(await exists(volumePaths(dir).record))) throw notFound(`there is no volume named ${name}`);
      volume = new Volume(await openVolumeCore(dir, this.arena), this.#nameIndex);
      this.#volumes.set(name, volume);
    }
    return volume;
  }

  /**
   * A new volume holding checkpoint `checkpoint`'s image (a full delta, imported
   * atomically); its base is that image, so later deltas of the source apply to it.
   */
  async clone(checkpoint: string, name: string, options: { onProgress?: OnProgress } = {}): Promise<Volume> {
    const source = await this.volumeOfCheckpoint(checkpoint);
    checkName('volume', name);
    const total = (await source.diffSize(null, checkpoint)).dataBytes;
    const target = await this.createVolume(name, {
      size: source.size, blockSize: source.blockSize, granularity: source.granularity,
    });
    await target.importDiff(counted(source.exportDiff(null, checkpoint), total, options.onProgress));
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
    const source = await this.volumeOfCheckpoint(newer);
    if (this.#names.get(older) !== source.name) throw notFound(`${source.name} has no checkpoint named ${older}`);
    checkName('volume', target);
    if (!(await this.volumeNames()).includes(target)) {
      const size = await source.diffSize(null, newer);
      await this.clone(newer, target, options);
      return { full: true, dataBlocks: size.dataBlocks, unusedBlocks: size.unusedBlocks };
    }
    const total = (await source.diffSize(older, newer)).dataBytes;
    const result = await (await this.volume(target)).importDiff(counted(source.exportDiff(older, newer), total, options.onProgress));
    return { full: false, dataBlocks: result.dataBlocks, unusedBlocks: result.unusedBlocks };
  }

  /** The volume that holds the checkpoint named `name`. */
  async volumeOfCheckpoint(name: string): Promise<Volume> {
    const volume = this.#names.get(name);
    if (!volume) throw notFound(`there is no checkpoint named ${name}`);
    return this.volume(volume);
  }

  async close(): Promise<void> {
    if (!this.#lock) return;
    for (const volume of this.#volumes.values()) await volume.close();
    this.#volumes.clear();
    await this.#lock.release();
    this.#lock = undefined;
  }

  #checkOpen(): void {
    if (!this.#lock) throw new SnapcopyError('ERR_CLOSED', `data directory ${this.path} is closed`);
  }
}
