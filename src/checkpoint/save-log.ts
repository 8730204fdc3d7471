// A checkpoint's save volume: a log of before-images, each a checksummed record after a
// 4 KiB header. Two versions, told apart by the header's magic:
//   SCSAVE02 (written since the SIMD checksum):
//     u32 block | u32 magic | u64 checksum64(record, with these 8 bytes as zeros) | image
//   SCSAVE01 (still opened, read and appended to in its own format):
//     u32 block | u32 crc32(block, image) | u32 magic | u32 reserved | image
// (image: blockSize bytes). Records are only appended (into zeros written ahead), so a
// crash can tear only the last ones; opening keeps the longest prefix whose checksums
// hold, and the next append overwrites what follows.

import { corrupt } from '../errors.js';
import { type BlockFile, openFile, Preallocation } from '../storage/file.js';
import { checksum64Records, crc32 } from '../storage/checksum.js';

/** Save volume versions by their header's magic. */
const MAGICS: ReadonlyMap<string, SaveVersion> = new Map([['SCSAVE01', 1], ['SCSAVE02', 2]]);
export type SaveVersion = 1 | 2;
export const SAVE_VERSION: SaveVersion = 2;
const RECORD_MAGIC = 0x53524543; // "SREC"
export const SAVE_HEADER_BYTES = 4096;
const RECORD_HEAD = 16;

export interface SaveLogInfo {
  volume: string;
  checkpoint: string;
  blockSize: number;
}

/** Version 1's record checksum: CRC-32 of the block number, then of the image. */
function crc32Record(block: number, image: Uint8Array): number {
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, block, true);
  return crc32(image, crc32(head));
}

function headerBytes(info: SaveLogInfo, version: SaveVersion): Uint8Array {
  const bytes = new Uint8Array(SAVE_HEADER_BYTES);
  const json = new TextEncoder().encode(JSON.stringify(info));
  new TextEncoder().encodeInto(`SCSAVE0${version}`, bytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, json.length, true);
  bytes.set(json, 16);
  view.setUint32(12, crc32(json), true);
  return bytes;
}

function parseHeader(bytes: Uint8Array, path: string): { info: SaveLogInfo; version: SaveVersion } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(8, true);
  const version = MAGICS.get(new TextDecoder().decode(bytes.subarray(0, 8)));
  if (version === undefined || length > SAVE_HEADER_BYTES - 16) throw corrupt(`${path}: not a save volume`);
  const json = bytes.subarray(16, 16 + length);
  if (crc32(json) !== view.getUint32(12, true)) throw corrupt(`${path}: save volume header checksum mismatch`);
  return { info: JSON.parse(new TextDecoder().decode(json)) as SaveLogInfo, version };
}

/**
 * Record heads and checksums of one version, for records back to back in one buffer.
 * One DataView and one array of sums serve a whole batch: per-record objects cost more
 * garbage collection than the checksums themselves.
 */
class RecordCodec {
  #sums = new BigUint64Array(0);

  constructor(readonly version: SaveVersion, readonly recordBytes: number) {}

  /** Fills in the heads and checksums of `n` records whose images are in place in `bytes`. */
  seal(bytes: Uint8Array, blocks: ArrayLike<number>, n: number): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let r = 0; r < n; r++) {
      const at = r * this.recordBytes;
      view.setUint32(at, blocks[r]!, true);
      if (this.version === 1) {
        view.setUint32(at + 4, crc32Record(blocks[r]!, bytes.subarray(at + RECORD_HEAD, at + this.recordBytes)), true);
        view.setUint32(at + 8, RECORD_MAGIC, true);
        view.setUint32(at + 12, 0, true);
      } else {
        view.setUint32(at + 4, RECORD_MAGIC, true);
        view.setBigUint64(at + 8, 0n, true);
      }
    }
    if (this.version === 1) return;
    const sums = this.#sumsOf(bytes, n);
    for (let r = 0; r < n; r++) view.setBigUint64(r * this.recordBytes + 8, sums[r]!, true);
  }

  /**
   * How many of the `n` records in `bytes` hold, in a row from the first; their blocks
   * go into `blocks`. (Version 2's checksum fields are left zeroed.)
   */
  check(bytes: Uint8Array, n: number, blocks: Uint32Array): number {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.version === 1) {
      for (let r = 0; r < n; r++) {
        const at = r * this.recordBytes;
        blocks[r] = view.getUint32(at, true);
        const image = bytes.subarray(at + RECORD_HEAD, at + this.recordBytes);
        if (view.getUint32(at + 8, true) !== RECORD_MAGIC || view.getUint32(at + 4, true) !== crc32Record(blocks[r]!, image)) return r;
      }
      return n;
    }
    const stored = new BigUint64Array(n);
    for (let r = 0; r < n; r++) {
      stored[r] = view.getBigUint64(r * this.recordBytes + 8, true);
      view.setBigUint64(r * this.recordBytes + 8, 0n, true);
    }
    const sums = this.#sumsOf(bytes, n);
    for (let r = 0; r < n; r++) {
      const at = r * this.recordBytes;
      blocks[r] = view.getUint32(at, true);
      if (view.getUint32(at + 4, true) !== RECORD_MAGIC || stored[r] !== sums[r]) return r;
    }
    return n;
  }

  #sumsOf(bytes: Uint8Array, n: number): BigUint64Array {
    if (this.#sums.length < n) this.#sums = new BigUint64Array(n);
    checksum64Records(bytes, this.recordBytes, n, this.#sums);
    return this.#sums;
  }
}

export class SaveLog {
  readonly recordBytes: number;
  #count: number;
  #codec: RecordCodec;
  #space = new Preallocation();
  /** Reused for appends that grow the file (large ones: a fresh buffer per append costs its page faults). */
  #scratch = new Uint8Array(0);

  private constructor(readonly file: BlockFile, readonly info: SaveLogInfo, count: number, readonly version: SaveVersion) {
    this.recordBytes = RECORD_HEAD + info.blockSize;
    this.#count = count;
    this.#codec = new RecordCodec(version, this.recordBytes);
  }

  /** Records in the log. */
  get count(): number {
    return this.#count;
  }

  /** Makes an empty log; `version` 1 only to test that logs made by older builds keep working. */
  static async create(path: string, info: SaveLogInfo, version: SaveVersion = SAVE_VERSION): Promise<SaveLog> {
    const file = await openFile(path, { create: true });
    await file.truncate(0);
    await file.write(headerBytes(info, version), 0);
    await file.sync();
    return new SaveLog(file, info, 0, version);
  }

  /**
   * Opens a log, trusting its first `trusted` records (known good from a map file)
   * and checking the rest; `onRecord` sees each record's block from `trusted` on.
   * A torn or corrupt tail is cut off.
   */
  static async open(
    path: string, expect: SaveLogInfo, trusted: number, onRecord: (block: number, index: number) => void,
  ): Promise<SaveLog> {
    const file = await openFile(path);
    const head = new Uint8Array(SAVE_HEADER_BYTES);
    await file.read(head, 0);
    const { info, version } = parseHeader(head, path);
    if (info.volume !== expect.volume || info.checkpoint !== expect.checkpoint || info.blockSize !== expect.blockSize) {
      throw corrupt(`${path}: save volume belongs to ${info.volume}/${info.checkpoint}`);
    }
    const log = new SaveLog(file, info, 0, version);
    const size = await file.size();
    const whole = Math.floor((size - SAVE_HEADER_BYTES) / log.recordBytes);
    if (trusted > whole) throw corrupt(`${path}: ${whole} records, but its map names ${trusted}`);
    log.#count = trusted + await log.#checkRecords(trusted, whole, onRecord);
    return log;
  }

  /** Checks records [from, to) in batches; returns how many in a row hold. */
  async #checkRecords(from: number, to: number, onRecord: (block: number, index: number) => void): Promise<number> {
    const perBatch = Math.max(1, Math.floor((4 << 20) / this.recordBytes));
    const batch = new Uint8Array(Math.min(perBatch, Math.max(0, to - from)) * this.recordBytes);
    const blocks = new Uint32Array(perBatch);
    for (let i = from; i < to; i += perBatch) {
      const n = Math.min(perBatch, to - i);
      await this.file.read(batch.subarray(0, n * this.recordBytes), this.position(i));
      const good = this.#codec.check(batch, n, blocks);
      for (let r = 0; r < good; r++) onRecord(blocks[r]!, i + r);
      if (good < n) return i + good - from;
    }
    return to - from;
  }

  position(index: number): number {
    return SAVE_HEADER_BYTES + index * this.recordBytes;
  }

  /** Claims the space of `n` more records now, so appending them later cannot run out of it. */
  async reserve(n: number): Promise<void> {
    await this.#space.cover(this.file, this.position(this.#count + n));
  }

  /**
   * Appends before-images (images holds blocks.length images back to back); returns
   * the index of the first. Not durable until sync(). With `grow`, the file grows by
   * the records themselves, without zeros written ahead: for a caller that undoes its
   * appends itself when they fail (an import's before-images, see import.ts).
   */
  async append(blocks: ArrayLike<number>, images: Uint8Array, options: { grow?: boolean } = {}): Promise<number> {
    const n = blocks.length;
    if (options.grow && this.#scratch.length < n * this.recordBytes) this.#scratch = new Uint8Array(n * this.recordBytes);
    const bytes = options.grow ? this.#scratch.subarray(0, n * this.recordBytes) : new Uint8Array(n * this.recordBytes);
    const size = this.info.blockSize;
    for (let r = 0; r < n; r++) bytes.set(images.subarray(r * size, (r + 1) * size), r * this.recordBytes + RECORD_HEAD);
    this.#codec.seal(bytes, blocks, n);
    const first = this.#count;
    if (!options.grow) await this.#space.cover(this.file, this.position(first) + bytes.length);
    await this.file.write(bytes, this.position(first));
    // What is written ahead is known again from the file's size when next needed.
    if (options.grow) this.#space = new Preallocation();
    this.#count += n;
    return first;
  }

  sync(): Promise<void> {
    return this.file.sync();
  }

  /** Gives back the space written ahead past the last record (a sealed save volume rarely grows). */
  trim(): Promise<void> {
    return this.#space.trim(this.file, this.position(this.#count));
  }

  /**
   * Reads the before-images of records [first, first + n) into `into` (n * blockSize
   * bytes), checking each; returns the block of each record.
   */
  async readImages(first: number, n: number, into: Uint8Array): Promise<Uint32Array> {
    const bytes = new Uint8Array(n * this.recordBytes);
    await this.file.read(bytes, this.position(first));
    const blocks = new Uint32Array(n);
    const good = this.#codec.check(bytes, n, blocks);
    if (good < n) throw corrupt(`${this.file.path}: record ${first + good} checksum mismatch`);
    const size = this.info.blockSize;
    for (let r = 0; r < n; r++) into.set(bytes.subarray(r * this.recordBytes + RECORD_HEAD, (r + 1) * this.recordBytes), r * size);
    return blocks;
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
