// A checkpoint's save volume: a log of before-images, each a checksummed record
//   u32 block | u32 crc32(block, image) | u32 magic | u32 reserved | image (blockSize bytes)
// after a 4 KiB header. Records are only appended (into zeros written ahead), so a
// crash can tear only the last ones; opening keeps the longest prefix whose checksums
// hold, and the next append overwrites what follows.

import { corrupt } from '../errors.js';
import { type BlockFile, openFile, Preallocation } from '../storage/file.js';
import { crc32 } from '../storage/checksum.js';

const MAGIC = 'SCSAVE01';
const RECORD_MAGIC = 0x53524543; // "SREC"
export const SAVE_HEADER_BYTES = 4096;
const RECORD_HEAD = 16;

export interface SaveLogInfo {
  volume: string;
  checkpoint: string;
  blockSize: number;
}

function recordChecksum(block: number, image: Uint8Array): number {
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, block, true);
  return crc32(image, crc32(head));
}

function headerBytes(info: SaveLogInfo): Uint8Array {
  const bytes = new Uint8Array(SAVE_HEADER_BYTES);
  const json = new TextEncoder().encode(JSON.stringify(info));
  new TextEncoder().encodeInto(MAGIC, bytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, json.length, true);
  bytes.set(json, 16);
  view.setUint32(12, crc32(json), true);
  return bytes;
}

function parseHeader(bytes: Uint8Array, path: string): SaveLogInfo {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(8, true);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC || length > SAVE_HEADER_BYTES - 16) {
    throw corrupt(`${path}: not a save volume`);
  }
  const json = bytes.subarray(16, 16 + length);
  if (crc32(json) !== view.getUint32(12, true)) throw corrupt(`${path}: save volume header checksum mismatch`);
  return JSON.parse(new TextDecoder().decode(json)) as SaveLogInfo;
}

export class SaveLog {
  readonly recordBytes: number;
  #count: number;
  #space = new Preallocation();
  /** Reused for appends that grow the file (large ones: a fresh buffer per append costs its page faults). */
  #scratch = new Uint8Array(0);

  private constructor(readonly file: BlockFile, readonly info: SaveLogInfo, count: number) {
    this.recordBytes = RECORD_HEAD + info.blockSize;
    this.#count = count;
  }

  /** Records in the log. */
  get count(): number {
    return this.#count;
  }

  static async create(path: string, info: SaveLogInfo): Promise<SaveLog> {
    const file = await openFile(path, { create: true });
    await file.truncate(0);
    await file.write(headerBytes(info), 0);
    await file.sync();
    return new SaveLog(file, info, 0);
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
    const info = parseHeader(head, path);
    if (info.volume !== expect.volume || info.checkpoint !== expect.checkpoint || info.blockSize !== expect.blockSize) {
      throw corrupt(`${path}: save volume belongs to ${info.volume}/${info.checkpoint}`);
    }
    const log = new SaveLog(file, info, 0);
    const size = await file.size();
    const whole = Math.floor((size - SAVE_HEADER_BYTES) / log.recordBytes);
    if (trusted > whole) throw corrupt(`${path}: ${whole} records, but its map names ${trusted}`);
    log.#count = trusted + await log.#checkRecords(trusted, whole, onRecord);
    return log;
  }

  /** Checks records [from, to) in batches; returns how many in a row hold. */
  async #checkRecords(from: number, to: number, onRecord: (block: number, index: number) => void): Promise<number> {
    const perBatch = Math.max(1, Math.floor((4 << 20) / this.recordBytes));
    for (let i = from; i < to; i += perBatch) {
      const n = Math.min(perBatch, to - i);
      const batch = new Uint8Array(n * this.recordBytes);
      await this.file.read(batch, this.position(i));
      for (let r = 0; r < n; r++) {
        const at = r * this.recordBytes;
        const view = new DataView(batch.buffer, at, RECORD_HEAD);
        const block = view.getUint32(0, true);
        const image = batch.subarray(at + RECORD_HEAD, at + this.recordBytes);
        if (view.getUint32(8, true) !== RECORD_MAGIC || view.getUint32(4, true) !== recordChecksum(block, image)) {
          return i + r - from;
        }
        onRecord(block, i + r);
      }
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
    for (let r = 0; r < n; r++) {
      const at = r * this.recordBytes;
      const image = images.subarray(r * size, (r + 1) * size);
      const view = new DataView(bytes.buffer, at, RECORD_HEAD);
      view.setUint32(0, blocks[r]!, true);
      view.setUint32(4, recordChecksum(blocks[r]!, image), true);
      view.setUint32(8, RECORD_MAGIC, true);
      bytes.set(image, at + RECORD_HEAD);
    }
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
    const size = this.info.blockSize;
    for (let r = 0; r < n; r++) {
      const at = r * this.recordBytes;
      const view = new DataView(bytes.buffer, at, RECORD_HEAD);
      const image = bytes.subarray(at + RECORD_HEAD, at + this.recordBytes);
      blocks[r] = view.getUint32(0, true);
      if (view.getUint32(4, true) !== recordChecksum(blocks[r]!, image)) {
        throw corrupt(`${this.file.path}: record ${first + r} checksum mismatch`);
      }
      into.set(image, r * size);
    }
    return blocks;
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
