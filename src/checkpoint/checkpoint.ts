// One checkpoint of a volume: its frozen meta bit map, and its save volume with the
// bit map and block map that index it. A sealed checkpoint's maps stay on disk until
// a read or a scan stages them in (FIG. 42); the tail's live in memory and are
// written back (sealed) when the next checkpoint is made. Staged maps are freed again,
// least recently used first, once they hold more than the data directory's cap
// (MapCache below), so memory does not grow with the checkpoints reads and scans touch.

import { PagedBitmap } from '../arena/bitmap.js';
import type { Arena } from '../arena/arena.js';
import type { VolumeCore } from '../engine/core.js';
import { corrupt } from '../errors.js';
import { crc32 } from '../storage/checksum.js';
import { readFileOrUndefined, writeFileAtomic } from '../storage/file.js';
import { type CheckpointRecord, checkpointPaths } from '../engine/layout.js';
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

/** The default cap of staged checkpoint maps per data directory (its arena): 256 MiB. */
export const DEFAULT_MAP_CACHE_BYTES = 256 << 20;

export interface MapCacheStats {
  capBytes: number;
  /** Bytes the staged maps of checkpoints hold (arena pages, and the block maps' arrays). */
  bytes: number;
  /** Checkpoints with maps staged. */
  checkpoints: number;
  /** Checkpoints whose maps were freed to stay under the cap, since the cache was made. */
  evicted: number;
}

/**
 * The staged maps of the checkpoints of every volume on one arena, least recently
 * used first. Maps are freed only between a volume's operations (never under a scan
 * or a read that holds them: a volume's maps are pinned while it runs one), and never
 * a tail's (they are live). An operation stages past the cap by about one checkpoint's maps
 * at most: a delta stages only while there is room and folds the rest (delta-fold.ts),
 * and so does a read of an old checkpoint (read-fold.ts); the cap holds again when it ends.
 */
export class MapCache {
  capBytes = DEFAULT_MAP_CACHE_BYTES;
  /** Checkpoint -> its staged bytes (as counted when staged or sealed); Map order is use order. */
  readonly #staged = new Map<Checkpoint, number>();
  /** Volume directory -> its core, and how many of its operations run now. */
  readonly #volumes = new Map<string, { core: VolumeCore; running: number }>();
  #bytes = 0;
  #evicted = 0;

  stats(): MapCacheStats {
    return { capBytes: this.capBytes, bytes: this.#bytes, checkpoints: this.#staged.size, evicted: this.#evicted };
  }

  /** How many checkpoints of the volume in directory `volumeDir` have maps staged. */
  stagedOf(volumeDir: string): number {
    let n = 0;
    for (const ckpt of this.#staged.keys()) if (ckpt.volumeDir === volumeDir) n++;
    return n;
  }

  /** `ckpt`'s maps were used (with their size when just staged or changed). */
  used(ckpt: Checkpoint, bytes?: number): void {
    const old = this.#staged.get(ckpt);
    if (old === undefined && bytes === undefined) return; // not staged through maps() or meta()
    this.#staged.delete(ckpt);
    const now = bytes ?? old!;
    this.#staged.set(ckpt, now);
    this.#bytes += now - (old ?? 0);
  }

  dropped(ckpt: Checkpoint): void {
    const old = this.#staged.get(ckpt);
    if (old === undefined) return;
    this.#staged.delete(ckpt);
    this.#bytes -= old;
  }

  /** An operation of the volume starts: its maps stay until it ends. */
  begin(core: VolumeCore): void {
    const entry = this.#volumes.get(core.dir);
    if (entry && entry.core === core) entry.running++;
    else this.#volumes.set(core.dir, { core, running: 1 });
  }

  /** An operation of the volume ended: back under the cap. */
  async end(core: VolumeCore): Promise<void> {
    const entry = this.#volumes.get(core.dir);
    if (entry?.core === core) entry.running = Math.max(0, entry.running - 1);
    await this.trim();
  }

  /** The volume is closed (its maps are unloaded): forget it. */
  detach(core: VolumeCore): void {
    if (this.#volumes.get(core.dir)?.core === core) this.#volumes.delete(core.dir);
  }

  /** Frees maps, least recently used first, until they hold at most the cap or none can go. */
  async trim(): Promise<void> {
    if (this.#bytes <= this.capBytes) return;
    for (const ckpt of [...this.#staged.keys()]) {
      if (this.#bytes <= this.capBytes) return;
      if (!this.#evictable(ckpt)) continue;
      // Its memory is back once unload starts; a log file that fails to close changes nothing saved.
      await ckpt.unload().catch(() => undefined);
      this.#evicted++;
    }
  }

  #evictable(ckpt: Checkpoint): boolean {
    const volume = this.#volumes.get(ckpt.volumeDir);
    // A volume that never ran an operation here may be in the middle of opening: keep its maps.
    if (!volume || volume.running > 0) return false;
    const checkpoints = volume.core.checkpoints;
    return checkpoints.includes(ckpt) && checkpoints[checkpoints.length - 1] !== ckpt;
  }
}

const caches = new WeakMap<Arena, MapCache>();

/** The map cache of the volumes on `arena` (one per data directory). */
export function mapCacheOf(arena: Arena): MapCache {
  let cache = caches.get(arena);
  if (!cache) caches.set(arena, (cache = new MapCache()));
  return cache;
}

/** Arena bytes of a bit map: its page table, stored pages and sparse pages' slots. */
function bitmapBytes(map: PagedBitmap): number {
  return map.bytesHeld();
}

/** Checkpoint bit maps keep pages of few bits sparse (meta maps never: the meta-aware kernels read them dense). */
const BITMAP_FORM = { sparse: true } as const;

/** Bytes of a block map's arrays and the record list (estimated: 2 slots per entry, 8 bytes a slot, 8 a list entry). */
function indexBytes(records: number): number {
  return records * 24;
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
  /** The save in progress (appends are serialized, see save). */
  #saving: Promise<void> = Promise.resolve();

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
      this.#meta = await this.#readMeta();
      this.#cache.used(this, this.#stagedBytes());
    } else {
      this.#cache.used(this);
    }
    return this.#meta;
  }

  /** Whether meta() would answer from memory. */
  get metaStaged(): boolean {
    return this.#meta !== undefined;
  }

  /**
   * The meta map as meta() stages it, in a map the caller owns and frees: nothing is
   * staged (a fold of a delta's interval reads one checkpoint at a time).
   */
  loadMeta(): Promise<PagedBitmap> {
    return this.#readMeta();
  }

  /**
   * The maps as maps() stages them, owned by the caller (who frees the bit map and
   * closes the save volume): nothing is staged (a read of an old image folds the
   * younger checkpoints' maps one at a time, read-fold.ts).
   */
  loadMaps(): Promise<StagedMaps> {
    return this.#readMaps(true);
  }

  /** The bit map as maps() stages it, in a map the caller owns and frees: nothing is staged. */
  async loadBitmap(): Promise<PagedBitmap> {
    const maps = await this.#readMaps(false);
    try {
      await maps.log.close();
    } catch (error) {
      maps.bitmap.free();
      throw error;
    }
    return maps.bitmap;
  }

  async #readMeta(): Promise<PagedBitmap> {
    const bytes = await readFileOrUndefined(this.paths.meta);
    if (!bytes) throw corrupt(`${this.paths.meta} is missing`);
    const meta = decodeMap(this.arena, bytes, this.paths.meta).map;
    // A volume resized since the map was written: it covers what the volume has now.
    meta.resize(this.#metaBits());
    return meta;
  }

  get #cache(): MapCache {
    return mapCacheOf(this.arena);
  }

  /** What the staged maps hold now (counted when staged or sealed, not on every change). */
  #stagedBytes(): number {
    const maps = this.#maps;
    const meta = this.#meta ? bitmapBytes(this.#meta) : 0;
    return meta + (maps ? bitmapBytes(maps.bitmap) + indexBytes(maps.recordBlocks.length) : 0);
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
    ckpt.#maps = { bitmap: PagedBitmap.create(arena, geometry.blocks, BITMAP_FORM), blockMap: new BlockMap(), log, recordBlocks: [] };
    ckpt.#cache.used(ckpt, ckpt.#stagedBytes());
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
    if (this.#maps) {
      this.#cache.used(this);
      return this.#maps;
    }
    this.#maps = await this.#readMaps();
    this.#cache.used(this, this.#stagedBytes());
    return this.#maps;
  }

  /** The maps from the files; without `index` the block map stays empty (only the bit map is wanted). */
  async #readMaps(index = true): Promise<StagedMaps> {
    const recordBlocks = decodeBlocks(await readFileOrUndefined(this.paths.blocks)) ?? [];
    const bitmapBytes = await readFileOrUndefined(this.paths.bitmap);
    let bitmap: PagedBitmap | undefined;
    if (bitmapBytes) {
      try {
        const decoded = decodeMap(this.arena, bitmapBytes, this.paths.bitmap, BITMAP_FORM);
        if (decoded.extra === recordBlocks.length) bitmap = decoded.map;
        else decoded.map.free();
      } catch {
        bitmap = undefined; // a map file that does not check out is rebuilt from the log
      }
    }
    const trusted = bitmap ? recordBlocks.length : 0;
    if (!bitmap) recordBlocks.length = 0;
    const map = bitmap ?? PagedBitmap.create(this.arena, this.geometry.blocks, BITMAP_FORM);
    map.resize(this.geometry.blocks);
    const blockMap = new BlockMap(index ? recordBlocks.length : 0);
    if (index) recordBlocks.forEach((block, i) => blockMap.add(block, i));
    const log = await SaveLog.open(this.paths.saveLog, this.#logInfo(), trusted, (block, at) => {
      recordBlocks.push(block);
      if (index) blockMap.add(block, at);
      // A before-image of a block a shrink cut off (it was in use nowhere): kept in the log, never read.
      if (block < this.geometry.blocks) map.set(block);
    });
    // The delta kernels read the map's sparse pages in page order: their slots ascend
    // as loaded from the file, not where the log's blocks (or a map rebuilt from it) put them.
    map.packSparse();
    return { bitmap: map, blockMap, log, recordBlocks };
  }

  /** Writes the bit map and block map back, so staging them later reads two small files. */
  async seal(): Promise<void> {
    const maps = await this.maps();
    await maps.log.sync();
    await maps.log.trim();
    await writeFileAtomic(this.paths.blocks, encodeBlocks(maps.recordBlocks));
    await writeFileAtomic(this.paths.bitmap, encodeMap(maps.bitmap, maps.recordBlocks.length));
    // Done changing: its sparse pages' slots, placed as the writes came, go side by side
    // in page order, where a delta scan reads them as one stream.
    maps.bitmap.packSparse();
    this.#cache.used(this, this.#stagedBytes());
  }

  /**
   * Appends before-images to the save volume (not yet durable) and indexes them; with
   * setBits false the caller sets the bit map itself (a merge ORs a whole map in); `grow`
   * as SaveLog.append.
   */
  save(blocks: readonly number[], images: Uint8Array, options: { setBits?: boolean; grow?: boolean } = {}): Promise<void> {
    // One at a time, in call order: an import's batch appends in the background while the
    // next records are read, and a record over blocks not in use saves their before-images
    // meanwhile. Two appends at once would take the same record index (one overwrites the
    // other, the count skips past a hole that ends the log when it is opened again, and
    // the block map points two blocks at one image).
    const saved = this.#saving.then(() => this.#save(blocks, images, options));
    this.#saving = saved.catch(() => undefined);
    return saved;
  }

  async #save(blocks: readonly number[], images: Uint8Array, options: { setBits?: boolean; grow?: boolean }): Promise<void> {
    const maps = await this.maps();
    const first = await maps.log.append(blocks, images, { grow: options.grow });
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
    this.#cache.dropped(this);
    const maps = this.#maps;
    this.#maps = undefined;
    this.#meta?.free();
    this.#meta = undefined;
    if (maps) {
      maps.bitmap.free();
      await maps.log.close();
    }
  }
}
