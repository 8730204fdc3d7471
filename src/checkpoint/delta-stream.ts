// The delta stream format: what export-diff writes and import-diff reads.
//
//   header   "SNAPDIFF" | u16 version | u16 flags | u32 n | n bytes of JSON (DeltaHeader) | sum
//   records  u8 tag ('D' data, 'U' unused) | 3 zero | u32 count | u32 start lo | u32 start hi
//            | sum(record head[0..16] + payload) | payload (count * blockSize bytes for 'D')
//   trailer  u8 'E' | 3 zero | u32 records | u32 data blocks | u32 unused blocks
//            | stream sum | sum(trailer up to here)
// The stream sum chains the header's and every record's sum, so it covers every byte.
// Version 2 (written since the SIMD checksum): every sum is a u64 checksum64 (src/storage/
// checksum.ts); version 1 (still read): every sum is a u32 CRC-32.
// All integers are little-endian. Records come in ascending, non-overlapping block order.

import { copyBytes } from '../storage/bytes.js';
import { corrupt, invalidArgument } from '../errors.js';
import { checksum64, crc32 } from '../storage/checksum.js';
import type { DeltaChunk } from './delta.js';

export const STREAM_MAGIC = 'SNAPDIFF';
export const STREAM_VERSION = 2;
/** Feature flags this version understands (none yet); a stream with others is refused. */
export const KNOWN_FLAGS = 0;
const MAX_HEADER_JSON = 64 * 1024;
/** The largest record payload a reader accepts (writers use a few MiB). */
export const MAX_RECORD_BYTES = 64 << 20;
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

/** The chain's two u64 fields, reused: the stream sum is folded once per record. */
const CHAIN_BYTES = new Uint8Array(16);
const CHAIN_VIEW = new DataView(CHAIN_BYTES.buffer);

/** checksum64 of the chain as it stood (none for the first sum) and the next sum, as little-endian u64s. */
function chain64(chain: bigint | undefined, sum: bigint): bigint {
  if (chain === undefined) {
    CHAIN_VIEW.setBigUint64(0, sum, true);
    return checksum64(CHAIN_BYTES.subarray(0, 8));
  }
  CHAIN_VIEW.setBigUint64(0, chain, true);
  CHAIN_VIEW.setBigUint64(8, sum, true);
  return checksum64(CHAIN_BYTES);
}

/** What differs between versions: the checksum and so the size of every sum field. */
interface StreamFormat {
  version: number;
  sumBytes: 4 | 8;
  /** The sum of bytes (parts taken as one run). */
  sum(bytes: Uint8Array | readonly Uint8Array[]): bigint;
  /** The stream sum after one more header or record sum. */
  chain(chain: bigint | undefined, sum: bigint): bigint;
}

const CRC32_FORMAT: StreamFormat = {
  version: 1,
  sumBytes: 4,
  sum: (bytes) => {
    const parts = bytes instanceof Uint8Array ? [bytes] : bytes;
    let crc = 0;
    for (const part of parts) crc = crc32(part, crc);
    return BigInt(crc);
  },
  chain: (chain, sum) => BigInt(crc32(u32le(Number(sum)), chain === undefined ? 0 : Number(chain))),
};

const CHECKSUM64_FORMAT: StreamFormat = {
  version: 2,
  sumBytes: 8,
  sum: (bytes) => checksum64(bytes),
  chain: chain64,
};

const FORMATS = new Map([CRC32_FORMAT, CHECKSUM64_FORMAT].map((f) => [f.version, f]));

function recordHeadBytes(f: StreamFormat): number {
  return 16 + f.sumBytes;
}

function trailerBytes(f: StreamFormat): number {
  return 16 + 2 * f.sumBytes;
}

function getSum(f: StreamFormat, view: DataView, at: number): bigint {
  return f.sumBytes === 4 ? BigInt(view.getUint32(at, true)) : view.getBigUint64(at, true);
}

function setSum(f: StreamFormat, view: DataView, at: number, sum: bigint): void {
  if (f.sumBytes === 4) view.setUint32(at, Number(sum), true);
  else view.setBigUint64(at, sum, true);
}

/**
 * Small buffers carved from larger ones: one allocation per few thousand record heads
 * rather than one each. A piece is never handed out twice, so it stays valid for as
 * long as its holder keeps it.
 */
class Slab {
  static readonly BYTES = 64 << 10;
  #slab = new Uint8Array(0);
  #used = 0;

  take(n: number): Uint8Array {
    if (this.#used + n > this.#slab.length) {
      this.#slab = new Uint8Array(Slab.BYTES);
      this.#used = 0;
    }
    const piece = this.#slab.subarray(this.#used, this.#used + n);
    this.#used += n;
    return piece;
  }
}

/** Writes a stream: header, then records, then the trailer, keeping the chained stream sum. */
export class StreamWriter {
  readonly #format: StreamFormat;
  #chain = 0n;
  #records = 0;
  #data = 0;
  #unused = 0;
  readonly #heads = new Slab();

  /** `version` 1 writes CRC-32 sums, for readers older than version 2. */
  constructor(options: { version?: 1 | 2 } = {}) {
    const format = FORMATS.get(options.version ?? STREAM_VERSION);
    if (!format) throw invalidArgument(`delta stream version must be 1 or 2, not ${String(options.version)}`);
    this.#format = format;
  }

  header(header: DeltaHeader): Uint8Array {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const f = this.#format;
    const bytes = new Uint8Array(16 + json.length + f.sumBytes);
    const view = new DataView(bytes.buffer);
    new TextEncoder().encodeInto(STREAM_MAGIC, bytes);
    view.setUint16(8, f.version, true);
    view.setUint16(10, KNOWN_FLAGS, true);
    view.setUint32(12, json.length, true);
    bytes.set(json, 16);
    const sum = f.sum(bytes.subarray(0, 16 + json.length));
    setSum(f, view, 16 + json.length, sum);
    this.#chain = f.chain(undefined, sum);
    return bytes;
  }

  /** The record head; for data the payload follows as its own chunk (no copy). */
  record(chunk: DeltaChunk): Uint8Array[] {
    const f = this.#format;
    const head = this.#heads.take(recordHeadBytes(f));
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    view.setUint8(0, chunk.kind === 'data' ? TAG_DATA : TAG_UNUSED);
    view.setUint32(4, chunk.count, true);
    view.setUint32(8, chunk.start % 2 ** 32, true);
    view.setUint32(12, Math.floor(chunk.start / 2 ** 32), true);
    const payload = chunk.kind === 'data' ? chunk.data! : new Uint8Array(0);
    const sum = f.sum([head.subarray(0, 16), payload]);
    setSum(f, view, 16, sum);
    this.#chain = f.chain(this.#chain, sum);
    this.#records++;
    if (chunk.kind === 'data') this.#data += chunk.count;
    else this.#unused += chunk.count;
    return chunk.kind === 'data' ? [head, payload] : [head];
  }

  trailer(): Uint8Array {
    const f = this.#format;
    const bytes = new Uint8Array(trailerBytes(f));
    const view = new DataView(bytes.buffer);
    view.setUint8(0, TAG_END);
    view.setUint32(4, this.#records, true);
    view.setUint32(8, this.#data, true);
    view.setUint32(12, this.#unused, true);
    setSum(f, view, 16, this.#chain);
    setSum(f, view, 16 + f.sumBytes, f.sum(bytes.subarray(0, 16 + f.sumBytes)));
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
 *
 * A record's data is its own copy, unless the reader is `transient`: then it is a view
 * (of the pushed chunk, or of one of two buffers the reader reuses for records that
 * span chunks), valid only until the next push and while the pushed chunk is unchanged:
 * for a consumer that is done with each record by then or copies what it keeps (an
 * import: see import-overwrite.ts).
 */
export class StreamReader {
  #buffered: Uint8Array[] = [];
  #length = 0;
  /** Whether #buffered[0] is the reader's own memory (an item put together from several chunks). */
  #ownedFirst = false;
  /** Whether the bytes the last #peek returned are the reader's own memory. */
  #peekOwned = false;
  /**
   * The next item (header, record or trailer) when it spans chunks: its bytes are
   * gathered here as they come, so each is copied once, into a buffer of its final size.
   */
  #pending: Uint8Array | undefined;
  #pendingFill = 0;
  /** Transient readers gather spanning items in these two in turn (an item handed out from one stays valid through the next push). */
  #carry: [Uint8Array, Uint8Array] = [new Uint8Array(0), new Uint8Array(0)];
  #carryTurn = 0;
  readonly #transient: boolean;
  #header: DeltaHeader | undefined;
  /** Known once the header's fixed part is read. */
  #format: StreamFormat | undefined;
  #done = false;
  #failed = false;
  #chain = 0n;
  #records = 0;
  #data = 0;
  #unused = 0;
  #next = 0;

  constructor(options: { transient?: boolean } = {}) {
    this.#transient = options.transient ?? false;
  }

  get header(): DeltaHeader | undefined {
    return this.#header;
  }

  /** Feeds bytes; returns what they completed. */
  push(chunk: Uint8Array): StreamEvent[] {
    if (this.#failed) throw corrupt('delta stream: read after an error');
    if (chunk.length === 0) return [];
    if (this.#done) this.#fail('bytes after the trailer');
    const events: StreamEvent[] = [];
    try {
      const used = this.#pending ? this.#topUp(chunk) : 0;
      if (this.#pending) return events; // the chunk went into the item still incomplete
      if (used < chunk.length) {
        this.#buffered.push(chunk.subarray(used));
        this.#length += chunk.length - used;
      }
      for (let event = this.#step(); event; event = this.#step()) events.push(event);
      // What is kept for the next push must not be a view of the caller's buffer: callers
      // (RCP sessions among them) reuse their buffers once push returns.
      if (this.#length > 0) this.#startPending();
    } catch (error) {
      this.#failed = true;
      throw error;
    }
    return events;
  }

  /**
   * The total size of the next item, as far as `prefix` (its first bytes) tells: it
   * grows as more of the item is known. Where the item is bad, the size at which #step
   * sees that (#step is the one that fails).
   */
  #wants(prefix: Uint8Array): number {
    const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
    if (!this.#header) {
      if (prefix.length < 16) return 16;
      const f = FORMATS.get(view.getUint16(8, true));
      const n = view.getUint32(12, true);
      return f && n <= MAX_HEADER_JSON ? 16 + n + f.sumBytes : 16;
    }
    const f = this.#format!;
    if (prefix.length < 1) return 1;
    if (prefix[0] === TAG_END) return trailerBytes(f);
    const headBytes = recordHeadBytes(f);
    if (prefix.length < headBytes || prefix[0] !== TAG_DATA) return headBytes;
    const payloadBytes = view.getUint32(4, true) * this.#header.blockSize;
    return payloadBytes <= MAX_RECORD_BYTES ? headBytes + payloadBytes : headBytes;
  }

  /** Moves what is left buffered into a pending item of the size it is known to need. */
  #startPending(): void {
    const first = this.#buffered[0]!;
    const known = first.length >= Math.min(this.#length, 32) ? first : this.#gather(Math.min(this.#length, 32));
    this.#pending = this.#pendingBuffer(Math.max(this.#length, this.#wants(known)), true);
    this.#pendingFill = 0;
    for (const part of this.#buffered) {
      this.#pending.set(part, this.#pendingFill);
      this.#pendingFill += part.length;
    }
    this.#buffered = [];
    this.#length = 0;
  }

  /** A buffer of `n` bytes for the pending item: a fresh one, or (transient) one of the two reused in turn, grown. */
  #pendingBuffer(n: number, next: boolean): Uint8Array {
    if (!this.#transient) return new Uint8Array(n);
    if (next) this.#carryTurn ^= 1;
    if (this.#carry[this.#carryTurn]!.length < n) {
      const grown = new Uint8Array(Math.max(n, 64 << 10));
      if (!next) grown.set(this.#carry[this.#carryTurn]!.subarray(0, this.#pendingFill));
      this.#carry[this.#carryTurn] = grown;
    }
    return this.#carry[this.#carryTurn]!.subarray(0, n);
  }

  /**
   * Copies from `chunk` into the pending item until it is whole (then it becomes the
   * first buffered bytes) or the chunk is used up; returns the bytes taken.
   */
  #topUp(chunk: Uint8Array): number {
    let used = 0;
    for (;;) {
      const pending = this.#pending!;
      const want = this.#wants(pending.subarray(0, this.#pendingFill));
      if (want > pending.length) {
        const grown = this.#pendingBuffer(want, false);
        if (!this.#transient) grown.set(pending.subarray(0, this.#pendingFill));
        this.#pending = grown;
        continue;
      }
      if (this.#pendingFill >= want) break;
      const take = Math.min(want - this.#pendingFill, chunk.length - used);
      pending.set(chunk.subarray(used, used + take), this.#pendingFill);
      this.#pendingFill += take;
      used += take;
      if (this.#pendingFill < want) return used;
    }
    this.#buffered = [this.#pending!.subarray(0, this.#pendingFill)];
    this.#length = this.#pendingFill;
    this.#ownedFirst = true;
    this.#pending = undefined;
    return used;
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
    this.#peekOwned = first.length >= n ? this.#ownedFirst : true;
    return first.length >= n ? first.subarray(0, n) : this.#gather(n);
  }

  /** The first n buffered bytes (there are that many) copied into one new buffer. */
  #gather(n: number): Uint8Array {
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
        this.#ownedFirst = false;
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
    const version = view.getUint16(8, true);
    const f = FORMATS.get(version);
    if (!f) this.#fail(`version ${version} is not supported (this snapcopy reads versions ${[...FORMATS.keys()].join(' and ')})`);
    if ((view.getUint16(10, true) & ~KNOWN_FLAGS) !== 0) this.#fail('unknown feature flags');
    const n = view.getUint32(12, true);
    if (n > MAX_HEADER_JSON) this.#fail(`header of ${n} bytes is over the limit`);
    const whole = this.#peek(16 + n + f.sumBytes);
    if (!whole) return undefined;
    const sum = getSum(f, new DataView(whole.buffer, whole.byteOffset, whole.byteLength), 16 + n);
    if (sum !== f.sum(whole.subarray(0, 16 + n))) this.#fail('header checksum mismatch');
    let header: DeltaHeader;
    try {
      header = JSON.parse(new TextDecoder().decode(whole.subarray(16, 16 + n))) as DeltaHeader;
    } catch {
      this.#fail('header is not JSON');
    }
    checkHeader(header, (why) => this.#fail(why));
    this.#consume(16 + n + f.sumBytes);
    this.#header = header;
    this.#format = f;
    this.#chain = f.chain(undefined, sum);
    return { type: 'header', header };
  }

  #stepRecord(): StreamEvent | undefined {
    const header = this.#header!;
    const f = this.#format!;
    const headBytes = recordHeadBytes(f);
    const tagBytes = this.#peek(1);
    if (!tagBytes) return undefined;
    if (tagBytes[0] === TAG_END) return this.#stepTrailer();
    const head = this.#peek(headBytes);
    if (!head) return undefined;
    const view = new DataView(head.buffer, head.byteOffset, headBytes);
    const tag = view.getUint8(0);
    if (tag !== TAG_DATA && tag !== TAG_UNUSED) this.#fail(`unknown record tag ${tag}`);
    const count = view.getUint32(4, true);
    const start = view.getUint32(8, true) + view.getUint32(12, true) * 2 ** 32;
    if (count === 0 || start < this.#next || start + count > header.blocks) {
      this.#fail(`record [${start}, +${count}) is out of order or past the volume's ${header.blocks} blocks`);
    }
    const payloadBytes = tag === TAG_DATA ? count * header.blockSize : 0;
    if (payloadBytes > MAX_RECORD_BYTES) this.#fail(`record of ${payloadBytes} bytes is over the limit`);
    const whole = this.#peek(headBytes + payloadBytes);
    if (!whole) return undefined;
    const payload = whole.subarray(headBytes);
    const sum = getSum(f, view, 16);
    if (sum !== f.sum([whole.subarray(0, 16), payload])) this.#fail(`record at block ${start}: checksum mismatch`);
    // Unless transient, the payload must outlive the caller's buffers: copied when it is a
    // view of them (a record that spanned chunks was put together in memory of its own).
    const data = tag === TAG_DATA ? (this.#transient || this.#peekOwned ? payload : copyBytes(payload)) : undefined;
    this.#consume(headBytes + payloadBytes);
    this.#chain = f.chain(this.#chain, sum);
    this.#records++;
    this.#next = start + count;
    if (tag === TAG_DATA) this.#data += count;
    else this.#unused += count;
    return { type: 'record', record: { kind: tag === TAG_DATA ? 'data' : 'unused', start, count, data } };
  }

  #stepTrailer(): StreamEvent | undefined {
    const f = this.#format!;
    const size = trailerBytes(f);
    const bytes = this.#peek(size);
    if (!bytes) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, size);
    if (getSum(f, view, 16 + f.sumBytes) !== f.sum(bytes.subarray(0, 16 + f.sumBytes))) this.#fail('trailer checksum mismatch');
    const trailer = { records: view.getUint32(4, true), dataBlocks: view.getUint32(8, true), unusedBlocks: view.getUint32(12, true) };
    if (getSum(f, view, 16) !== this.#chain) this.#fail('stream checksum mismatch');
    const header = this.#header!;
    if (trailer.records !== this.#records || trailer.dataBlocks !== this.#data || trailer.unusedBlocks !== this.#unused
      || header.dataBlocks !== this.#data || header.unusedBlocks !== this.#unused) {
      this.#fail('record counts do not match the header and trailer');
    }
    this.#consume(size);
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
