// One checkpoint of a volume: its frozen meta bit map, and its save volume with the
// bit map and block map that index it. A sealed checkpoint's maps stay on disk until
// a read or a scan stages them in (FIG. 42); the tail's live in memory and are
// written back (sealed) when the next checkpoint is made.

import { PagedBitmap } from '../arena/bitmap.js';
import type { Arena } from '../arena/arena.js';
import { corrupt } from '../errors.js';
import { crc32 } from '../storage/checksum.js';
import { readFileOrUndefined, writeFileAtomic } from '../storage/file.js';
import { type CheckpointRecord, checkpointPaths } from '../volume/layout.js';
import { BlockMap } from './block-map.js';
import { decodeMap, encodeMap } from './map-file.js';
import { SaveLog } from './save-log.js';

export interface Geometry {
  volume: string;
  blocks: number;
  blockSize: number;
  granularity: number;
}

/** The maps of a staged checkpoint. */
export interface StagedMaps {
  bitmap: PagedBitmap;
  blockMap: BlockMap;
  log: SaveLog;
  /** Block of each record, in log order (what the blocks file keeps). */
  recordBlocks: number[];
}

const BLOCKS_MAGIC = 'SCBLK001';

function encodeBlocks(blocks: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(16 + blocks.length * 4 + 4);
  const view = new DataView(bytes.buffer);
  new TextEncoder().encodeInto(BLOCKS_MAGIC, bytes);
  view.setUint32(8, blocks.length, true);
  blocks.forEach((b, i) => view.setUint32(16 + i * 4, b, true));
  view.setUint32(16 + blocks.length * 4, crc32(bytes.subarray(0, 16 + blocks.length * 4)), true);
  return bytes;
}

function decodeBlocks(bytes: Uint8Array | undefined): number[] | undefined {
  if (!bytes || bytes.length < 20) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(8, true);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== BLOCKS_MAGIC || bytes.length !== 20 + n * 4) return undefined;
  if (view.getUint32(16 + n * 4, true) !== crc32(bytes.subarray(0, 16 + n * 4))) return undefined;
  const blocks = new Array<number>(n);
  for (let i = 0; i < n; i++) blocks[i] = view.getUint32(16 + i * 4, true);
  return blocks;
}

export class Checkpoint {
  readonly paths: ReturnType<typeof checkpointPaths>;
  #meta: PagedBitmap | undefined;
  #maps: StagedMaps | undefined;

  constructor(readonly record: CheckpointRecord, readonly volumeDir: string, readonly geometry: Geometry, readonly arena: Arena) {
    this.paths = checkpointPaths(volumeDir, record.id);
  }

  get name(): string {
    return this.record.name;
  }

  get staged(): boolean {
    return this.#maps !== undefined;
  }

  /** The meta bit map frozen when the checkpoint was made (granularity g). */
  async meta(): Promise<PagedBitmap> {
    if (!this.#meta) {
      const bytes = await readFileOrUndefined(this.paths.meta);
      if (!bytes) throw corrupt(`${this.paths.meta} is missing`);
      this.#meta = decodeMap(this.arena, bytes, this.paths.meta).map;
      // A volume resized since the map was written: it covers what the volume has now.
      this.#meta.resize(this.#metaBits());
    }
    return this.#meta;
  }

  #metaBits(): number {
    return Math.ceil(this.geometry.blocks / 2 ** this.geometry.granularity);
  }

  /** The volume now has `blocks` blocks: the maps follow (blocks past the old end unused, never saved). */
  resize(blocks: number): void {
    this.geometry.blocks = blocks;
    this.#meta?.resize(this.#metaBits());
    this.#maps?.bitmap.resize(blocks);
  }

  /** Writes the files of a new checkpoint: its frozen meta map and an empty save volume. */
  static async create(record: CheckpointRecord, volumeDir: string, geometry: Geometry, arena: Arena, liveMeta: PagedBitmap): Promise<Checkpoint> {
    const ckpt = new Checkpoint(record, volumeDir, geometry, arena);
    await writeFileAtomic(ckpt.paths.meta, encodeMap(liveMeta));
    const log = await SaveLog.create(ckpt.paths.saveLog, ckpt.#logInfo());
    ckpt.#meta = liveMeta.clone();
    ckpt.#maps = { bitmap: PagedBitmap.create(arena, geometry.blocks), blockMap: new BlockMap(), log, recordBlocks: [] };
    return ckpt;
  }

  #logInfo() {
    return { volume: this.geometry.volume, checkpoint: this.record.id, blockSize: this.geometry.blockSize };
  }

  /**
   * Stages the bit map, block map and save volume in: from the files written when it
   * was sealed, then whatever the save volume holds past them (checked record by record).
   */
  async maps(): Promise<StagedMaps> {
    if (this.#maps) return this.#maps;
    const recordBlocks = decodeBlocks(await readFileOrUndefined(this.paths.blocks)) ?? [];
    const bitmapBytes = await readFileOrUndefined(this.paths.bitmap);
    let bitmap: PagedBitmap | undefined;
    if (bitmapBytes) {
      try {
        const decoded = decodeMap(this.arena, bitmapBytes, this.paths.bitmap);
        if (decoded.extra === recordBlocks.length) bitmap = decoded.map;
        else decoded.map.free();
      } catch {
        bitmap = undefined; // a map file that does not check out is rebuilt from the log
      }
    }
    const trusted = bitmap ? recordBlocks.length : 0;
    if (!bitmap) recordBlocks.length = 0;
    const map = bitmap ?? PagedBitmap.create(this.arena, this.geometry.blocks);
    map.resize(this.geometry.blocks);
    const blockMap = new BlockMap(recordBlocks.length);
    recordBlocks.forEach((block, i) => blockMap.add(block, i));
    const log = await SaveLog.open(this.paths.saveLog, this.#logInfo(), trusted, (block, index) => {
      recordBlocks.push(block);
      blockMap.add(block, index);
      // A before-image of a block a shrink cut off (it was in use nowhere): kept in the log, never read.
      if (block < this.geometry.blocks) map.set(block);
    });
    this.#maps = { bitmap: map, blockMap, log, recordBlocks };
    return this.#maps;
  }

  /** Writes the bit map and block map back, so staging them later reads two small files. */
  async seal(): Promise<void> {
    const maps = await this.maps();
    await maps.log.sync();
    await maps.log.trim();
    await writeFileAtomic(this.paths.blocks, encodeBlocks(maps.recordBlocks));
    await writeFileAtomic(this.paths.bitmap, encodeMap(maps.bitmap, maps.recordBlocks.length));
  }

  /**
   * Appends before-images to the save volume (not yet durable) and indexes them; with
   * setBits false the caller sets the bit map itself (a merge ORs a whole map in).
   */
  async save(blocks: readonly number[], images: Uint8Array, options: { setBits?: boolean } = {}): Promise<void> {
    const maps = await this.maps();
    const first = await maps.log.append(blocks, images);
    blocks.forEach((block, i) => {
      maps.recordBlocks.push(block);
      maps.blockMap.add(block, first + i);
      if (options.setBits !== false) maps.bitmap.set(block);
    });
  }

  /** Claims save volume space for `n` more before-images (before the write that needs them commits). */
  async reserve(n: number): Promise<void> {
    await (await this.maps()).log.reserve(n);
  }

  /** Makes the save volume durable, if it is staged (only a staged one can have been appended to). */
  async syncSaved(): Promise<void> {
    await this.#maps?.log.sync();
  }

  /** Closes files and gives the maps back to the arena. */
  async unload(): Promise<void> {
    if (this.#maps) {
      await this.#maps.log.close();
      this.#maps.bitmap.free();
      this.#maps = undefined;
    }
    this.#meta?.free();
    this.#meta = undefined;
  }
}
