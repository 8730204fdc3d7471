// The volume's write-ahead log. A change is appended here and made durable before
// the volume file is touched, so a crash at any instant leaves each block wholly old
// (the record is torn: its checksum fails and it is dropped) or wholly new (the record
// holds: opening replays it). Replaying is idempotent.
//
// File: a 4 KiB header (magic "SCWAL001", u32 generation, u32 crc) then records:
//   u32 magic | u8 type | 3 pad | u32 count | u32 start | u32 payload bytes | u32 generation
//   | u32 crc32(head[0..24] + payload) | payload
// The generation ties the log to the live meta map snapshot that already includes it.
// The file keeps its size when the log starts over (space written once is reused), so
// records of older generations may follow the end: the first record that is torn or
// of another generation ends the log.

import { corrupt } from '../errors.js';
import { type BlockFile, openFile, Preallocation } from '../storage/file.js';
import { crc32 } from '../storage/checksum.js';

const MAGIC = 'SCWAL001';
const RECORD_MAGIC = 0x4c415753; // "SWAL"
const HEADER = 4096;
const HEAD = 28;

/** What a record does when replayed: blocks [start, start+count), or granules for meta ops. */
export type WalRecord =
  | { type: 'write'; start: number; count: number; data: Uint8Array }
  | { type: 'zero'; start: number; count: number }
  | { type: 'meta-set'; start: number; count: number }
  | { type: 'meta-clear'; start: number; count: number }
  /** The whole live meta map, as encodeMap writes it (a restore: the checkpoint's map, carried whole). */
  | { type: 'meta-restore'; map: Uint8Array }
  /** Before-images for checkpoint `checkpoint`'s save volume (blocks.length images back to back). */
  | { type: 'save'; checkpoint: string; blocks: number[]; images: Uint8Array };

const TYPES = ['write', 'zero', 'meta-set', 'meta-clear', 'meta-restore', 'save'] as const;

/** A checkpoint id (a UUID) is 36 bytes of text. */
const ID_BYTES = 36;

function payloadOf(record: WalRecord): Uint8Array {
  if (record.type === 'write') return record.data;
  if (record.type === 'meta-restore') return record.map;
  if (record.type === 'save') {
    // id | u32 block per image | images
    const n = record.blocks.length;
    const payload = new Uint8Array(ID_BYTES + n * 4 + record.images.length);
    new TextEncoder().encodeInto(record.checkpoint.padEnd(ID_BYTES), payload);
    const view = new DataView(payload.buffer);
    record.blocks.forEach((b, i) => view.setUint32(ID_BYTES + i * 4, b, true));
    payload.set(record.images, ID_BYTES + n * 4);
    return payload;
  }
  return new Uint8Array(0);
}

function encode(record: WalRecord, generation: number): Uint8Array {
  const payload = payloadOf(record);
  const bytes = new Uint8Array(HEAD + payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, RECORD_MAGIC, true);
  view.setUint8(4, TYPES.indexOf(record.type));
  if (record.type === 'save') view.setUint32(8, record.blocks.length, true);
  else if (record.type !== 'meta-restore') {
    view.setUint32(8, record.count, true);
    view.setUint32(12, record.start, true);
  }
  view.setUint32(16, payload.length, true);
  view.setUint32(20, generation, true);
  bytes.set(payload, HEAD);
  view.setUint32(24, crc32(payload, crc32(bytes.subarray(0, 24))), true);
  return bytes;
}

function decode(head: DataView, payload: Uint8Array): WalRecord | undefined {
  const type = TYPES[head.getUint8(4)];
  const count = head.getUint32(8, true);
  const start = head.getUint32(12, true);
  switch (type) {
    case 'write': return { type, start, count, data: payload };
    case 'zero': case 'meta-set': case 'meta-clear': return { type, start, count };
    case 'meta-restore': return { type, map: payload };
    case 'save': {
      const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      const blocks = Array.from({ length: count }, (_, i) => view.getUint32(ID_BYTES + i * 4, true));
      const checkpoint = new TextDecoder().decode(payload.subarray(0, ID_BYTES)).trimEnd();
      return { type, checkpoint, blocks, images: payload.subarray(ID_BYTES + count * 4) };
    }
    default: return undefined;
  }
}

function header(generation: number): Uint8Array {
  const bytes = new Uint8Array(HEADER);
  new TextEncoder().encodeInto(MAGIC, bytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, generation, true);
  view.setUint32(12, crc32(bytes.subarray(0, 12)), true);
  return bytes;
}

export class Wal {
  #end: number;
  #generation: number;
  readonly #space = new Preallocation();

  private constructor(readonly file: BlockFile, generation: number, end: number) {
    this.#generation = generation;
    this.#end = end;
  }

  get generation(): number {
    return this.#generation;
  }

  /** Bytes of records in the log. */
  get bytes(): number {
    return this.#end - HEADER;
  }

  /** Creates an empty log of `generation`. */
  static async create(path: string, generation: number): Promise<Wal> {
    const file = await openFile(path, { create: true });
    const wal = new Wal(file, generation, HEADER);
    await wal.reset(generation);
    return wal;
  }

  /**
   * Opens a log and replays, through `apply`, every whole record in order; a torn
   * tail is cut off. A log whose header is torn is empty.
   */
  static async open(path: string, apply: (record: WalRecord, generation: number) => Promise<void>): Promise<Wal> {
    const file = await openFile(path, { create: true });
    const head = new Uint8Array(HEADER);
    await file.read(head, 0);
    const view = new DataView(head.buffer);
    const valid = new TextDecoder().decode(head.subarray(0, 8)) === MAGIC
      && view.getUint32(12, true) === crc32(head.subarray(0, 12));
    const generation = valid ? view.getUint32(8, true) : 0;
    const wal = new Wal(file, generation, HEADER);
    if (!valid) {
      await wal.reset(0);
      return wal;
    }
    const size = await file.size();
    let at = HEADER;
    const recordHead = new Uint8Array(HEAD);
    while (at + HEAD <= size) {
      await file.read(recordHead, at);
      const rv = new DataView(recordHead.buffer);
      const length = rv.getUint32(16, true);
      if (rv.getUint32(0, true) !== RECORD_MAGIC || rv.getUint32(20, true) !== generation || at + HEAD + length > size) break;
      const payload = new Uint8Array(length);
      await file.read(payload, at + HEAD);
      if (rv.getUint32(24, true) !== crc32(payload, crc32(recordHead.subarray(0, 24)))) break;
      const record = decode(rv, payload);
      if (!record) throw corrupt(`${path}: unknown record type at ${at}`);
      await apply(record, generation);
      at += HEAD + length;
    }
    wal.#end = at;
    return wal;
  }

  /** Appends records and makes them durable: on return, they will be replayed after a crash. */
  async append(records: readonly WalRecord[]): Promise<void> {
    const parts = records.map((r) => encode(r, this.#generation));
    const total = parts.reduce((n, p) => n + p.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    await this.#space.cover(this.file, this.#end + total);
    await this.file.write(bytes, this.#end);
    await this.file.sync();
    this.#end += total;
  }

  /** Empties the log under a new generation (its records are in the snapshot now). */
  async reset(generation: number): Promise<void> {
    await this.file.write(header(generation), 0);
    await this.file.sync();
    this.#generation = generation;
    this.#end = HEADER;
  }

  /**
   * Gives back the space of an empty log beyond its small fixed size (what a big
   * write, import or restore made it grow to). Only an empty log is cut: what
   * follows its header is stale.
   */
  async shrink(): Promise<void> {
    if (this.#end !== HEADER) return;
    await this.#space.trim(this.file, Wal.KEEP_BYTES);
  }

  /** The size an empty log keeps: its header and room for a few small records. */
  static readonly KEEP_BYTES = 64 << 10;

  close(): Promise<void> {
    return this.file.close();
  }
}
