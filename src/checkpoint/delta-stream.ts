// The delta stream format: what export-diff writes and import-diff reads.
//
//   header   "SNAPDIFF" | u16 version | u16 flags | u32 n | n bytes of JSON (DeltaHeader) | u32 crc32
//   records  u8 tag ('D' data, 'U' unused) | 3 zero | u32 count | u32 start lo | u32 start hi
//            | u32 crc32(record head[0..16] + payload) | payload (count * blockSize bytes for 'D')
//   trailer  u8 'E' | 3 zero | u32 records | u32 data blocks | u32 unused blocks
//            | u32 stream crc | u32 crc32(trailer[0..20])
// The stream crc chains the header's and every record's crc, so it covers every byte.
// All integers are little-endian. Records come in ascending, non-overlapping block order.

import { corrupt } from '../errors.js';
import { crc32 } from '../storage/checksum.js';
import type { DeltaChunk } from './delta.js';

export const STREAM_MAGIC = 'SNAPDIFF';
export const STREAM_VERSION = 1;
/** Feature flags this version understands (none yet); a stream with others is refused. */
export const KNOWN_FLAGS = 0;
const MAX_HEADER_JSON = 64 * 1024;
/** The largest record payload a reader accepts (writers use a few MiB). */
export const MAX_RECORD_BYTES = 64 << 20;
const RECORD_HEAD = 20;
const TRAILER = 24;
const TAG_DATA = 0x44;
const TAG_UNUSED = 0x55;
const TAG_END = 0x45;

export interface ImageRef {
  /** The image's unique id (a checkpoint's image id, or a fresh id for a live image). */
  id: string;
  /** The checkpoint's name on the writing side, for people. */
  name: string;
}

export interface DeltaHeader {
  volume: { name: string; uuid: string };
  from: ImageRef;
  to: ImageRef;
  blockSize: number;
  blocks: number;
  granularity: number;
  dataBlocks: number;
  unusedBlocks: number;
}

export interface StreamRecord {
  kind: 'data' | 'unused';
  start: number;
  count: number;
  data?: Uint8Array;
}

export interface StreamTrailer {
  records: number;
  dataBlocks: number;
  unusedBlocks: number;
}

function u32le(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, true);
  return b;
}

/** Writes a stream: header, then records, then the trailer, keeping the chained crc. */
export class StreamWriter {
  #chain = 0;
  #records = 0;
  #data = 0;
  #unused = 0;

  header(header: DeltaHeader): Uint8Array {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const bytes = new Uint8Array(16 + json.length + 4);
    const view = new DataView(bytes.buffer);
    new TextEncoder().encodeInto(STREAM_MAGIC, bytes);
    view.setUint16(8, STREAM_VERSION, true);
    view.setUint16(10, KNOWN_FLAGS, true);
    view.setUint32(12, json.length, true);
    bytes.set(json, 16);
    const crc = crc32(bytes.subarray(0, 16 + json.length));
    view.setUint32(16 + json.length, crc, true);
    this.#chain = crc32(u32le(crc));
    return bytes;
  }

  /** The record head; for data the payload follows as its own chunk (no copy). */
  record(chunk: DeltaChunk): Uint8Array[] {
    const head = new Uint8Array(RECORD_HEAD);
    const view = new DataView(head.buffer);
    view.setUint8(0, chunk.kind === 'data' ? TAG_DATA : TAG_UNUSED);
    view.setUint32(4, chunk.count, true);
    view.setUint32(8, chunk.start % 2 ** 32, true);
    view.setUint32(12, Math.floor(chunk.start / 2 ** 32), true);
    const payload = chunk.kind === 'data' ? chunk.data! : new Uint8Array(0);
    const crc = crc32(payload, crc32(head.subarray(0, 16)));
    view.setUint32(16, crc, true);
    this.#chain = crc32(u32le(crc), this.#chain);
    this.#records++;
    if (chunk.kind === 'data') this.#data += chunk.count;
    else this.#unused += chunk.count;
    return chunk.kind === 'data' ? [head, payload] : [head];
  }

  trailer(): Uint8Array {
    const bytes = new Uint8Array(TRAILER);
    const view = new DataView(bytes.buffer);
    view.setUint8(0, TAG_END);
    view.setUint32(4, this.#records, true);
    view.setUint32(8, this.#data, true);
    view.setUint32(12, this.#unused, true);
    view.setUint32(16, this.#chain, true);
    view.setUint32(20, crc32(bytes.subarray(0, 20)), true);
    return bytes;
  }
}

export type StreamEvent =
  | { type: 'header'; header: DeltaHeader }
  | { type: 'record'; record: StreamRecord }
  | { type: 'trailer'; trailer: StreamTrailer };

/**
 * Reads a stream fed in chunks of any size, checking as it goes: every checksum,
 * the order and bounds of records, the size limits, and at the end the counts.
 * Any fault is an ERR_CORRUPT error; after one, the reader accepts nothing more.
 */
export class StreamReader {
  #buffered: Uint8Array[] = [];
  #length = 0;
  #header: DeltaHeader | undefined;
  #done = false;
  #failed = false;
  #chain = 0;
  #records = 0;
  #data = 0;
  #unused = 0;
  #next = 0;

  get header(): DeltaHeader | undefined {
    return this.#header;
  }

  /** Feeds bytes; returns what they completed. */
  push(chunk: Uint8Array): StreamEvent[] {
    if (this.#failed) throw corrupt('delta stream: read after an error');
    if (chunk.length === 0) return [];
    if (this.#done) this.#fail('bytes after the trailer');
    this.#buffered.push(chunk);
    this.#length += chunk.length;
    const events: StreamEvent[] = [];
    try {
      for (let event = this.#step(); event; event = this.#step()) events.push(event);
    } catch (error) {
      this.#failed = true;
      throw error;
    }
    return events;
  }

  /** Says the input ended: an error unless the trailer was read. */
  end(): void {
    if (!this.#done) this.#fail(this.#header ? 'truncated (no trailer)' : 'truncated (no header)');
  }

  #fail(why: string): never {
    this.#failed = true;
    throw corrupt(`delta stream: ${why}`);
  }

  /** The first n buffered bytes, without consuming them (undefined until there are n). */
  #peek(n: number): Uint8Array | undefined {
    if (this.#length < n) return undefined;
    const first = this.#buffered[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let at = 0;
    for (const part of this.#buffered) {
      const take = Math.min(part.length, n - at);
      out.set(part.subarray(0, take), at);
      at += take;
      if (at === n) break;
    }
    return out;
  }

  #consume(n: number): void {
    this.#length -= n;
    while (n > 0) {
      const first = this.#buffered[0]!;
      if (first.length <= n) {
        this.#buffered.shift();
        n -= first.length;
      } else {
        this.#buffered[0] = first.subarray(n);
        n = 0;
      }
    }
  }

  #step(): StreamEvent | undefined {
    if (this.#done) {
      if (this.#length > 0) this.#fail('bytes after the trailer');
      return undefined;
    }
    return this.#header ? this.#stepRecord() : this.#stepHeader();
  }

  #stepHeader(): StreamEvent | undefined {
    const fixed = this.#peek(16);
    if (!fixed) return undefined;
    const view = new DataView(fixed.buffer, fixed.byteOffset, 16);
    if (new TextDecoder().decode(fixed.subarray(0, 8)) !== STREAM_MAGIC) this.#fail('not a snapcopy delta stream');
    if (view.getUint16(8, true) !== STREAM_VERSION) this.#fail(`version ${view.getUint16(8, true)} is not supported`);
    if ((view.getUint16(10, true) & ~KNOWN_FLAGS) !== 0) this.#fail('unknown feature flags');
    const n = view.getUint32(12, true);
    if (n > MAX_HEADER_JSON) this.#fail(`header of ${n} bytes is over the limit`);
    const whole = this.#peek(16 + n + 4);
    if (!whole) return undefined;
    const crc = new DataView(whole.buffer, whole.byteOffset + 16 + n, 4).getUint32(0, true);
    if (crc !== crc32(whole.subarray(0, 16 + n))) this.#fail('header checksum mismatch');
    let header: DeltaHeader;
    try {
      header = JSON.parse(new TextDecoder().decode(whole.subarray(16, 16 + n))) as DeltaHeader;
    } catch {
      this.#fail('header is not JSON');
    }
    checkHeader(header, (why) => this.#fail(why));
    this.#consume(16 + n + 4);
    this.#header = header;
    this.#chain = crc32(u32le(crc));
    return { type: 'header', header };
  }

  #stepRecord(): StreamEvent | undefined {
    const header = this.#header!;
    const tagBytes = this.#peek(1);
    if (!tagBytes) return undefined;
    if (tagBytes[0] === TAG_END) return this.#stepTrailer();
    const head = this.#peek(RECORD_HEAD);
    if (!head) return undefined;
    const view = new DataView(head.buffer, head.byteOffset, RECORD_HEAD);
    const tag = view.getUint8(0);
    if (tag !== TAG_DATA && tag !== TAG_UNUSED) this.#fail(`unknown record tag ${tag}`);
    const count = view.getUint32(4, true);
    const start = view.getUint32(8, true) + view.getUint32(12, true) * 2 ** 32;
    if (count === 0 || start < this.#next || start + count > header.blocks) {
      this.#fail(`record [${start}, +${count}) is out of order or past the volume's ${header.blocks} blocks`);
    }
    const payloadBytes = tag === TAG_DATA ? count * header.blockSize : 0;
    if (payloadBytes > MAX_RECORD_BYTES) this.#fail(`record of ${payloadBytes} bytes is over the limit`);
    const whole = this.#peek(RECORD_HEAD + payloadBytes);
    if (!whole) return undefined;
    const payload = whole.subarray(RECORD_HEAD);
    const crc = view.getUint32(16, true);
    if (crc !== crc32(payload, crc32(head.subarray(0, 16)))) this.#fail(`record at block ${start}: checksum mismatch`);
    // The payload must outlive the buffers it may share: copy when it is a view of them.
    const data = tag === TAG_DATA ? payload.slice() : undefined;
    this.#consume(RECORD_HEAD + payloadBytes);
    this.#chain = crc32(u32le(crc), this.#chain);
    this.#records++;
    this.#next = start + count;
    if (tag === TAG_DATA) this.#data += count;
    else this.#unused += count;
    return { type: 'record', record: { kind: tag === TAG_DATA ? 'data' : 'unused', start, count, data } };
  }

  #stepTrailer(): StreamEvent | undefined {
    const bytes = this.#peek(TRAILER);
    if (!bytes) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, TRAILER);
    if (view.getUint32(20, true) !== crc32(bytes.subarray(0, 20))) this.#fail('trailer checksum mismatch');
    const trailer = { records: view.getUint32(4, true), dataBlocks: view.getUint32(8, true), unusedBlocks: view.getUint32(12, true) };
    if (view.getUint32(16, true) !== this.#chain) this.#fail('stream checksum mismatch');
    const header = this.#header!;
    if (trailer.records !== this.#records || trailer.dataBlocks !== this.#data || trailer.unusedBlocks !== this.#unused
      || header.dataBlocks !== this.#data || header.unusedBlocks !== this.#unused) {
      this.#fail('record counts do not match the header and trailer');
    }
    this.#consume(TRAILER);
    this.#done = true;
    return { type: 'trailer', trailer };
  }
}

function checkHeader(h: DeltaHeader, fail: (why: string) => never): void {
  const int = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const ref = (r: ImageRef | undefined) => r && typeof r.id === 'string' && typeof r.name === 'string';
  if (typeof h !== 'object' || h === null || !ref(h.from) || !ref(h.to) || typeof h.volume?.uuid !== 'string') {
    fail('header lacks the volume or image ids');
  }
  if (!int(h.blockSize) || h.blockSize < 512 || h.blockSize > 1 << 20 || (h.blockSize & (h.blockSize - 1)) !== 0) {
    fail(`block size ${h.blockSize} is not valid`);
  }
  if (!int(h.blocks) || !int(h.granularity) || h.granularity > 6 || !int(h.dataBlocks) || !int(h.unusedBlocks)) {
    fail('header sizes are not valid');
  }
}
