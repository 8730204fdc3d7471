// Checksums. CRC-32 (the zlib polynomial) for the write-ahead log, save volumes, maps and
// version-1 delta streams, from node:zlib where the runtime has it (Node >= 20.15, Deno 2),
// else a table-driven twin; and below it the faster checksum of delta streams from
// version 2 on and of RCP frames.

import * as zlib from 'node:zlib';
import { ARENA_BASE, type Backend, type BackendChoice, type Kernels } from '../kernels/api.js';
import { loadKernels } from '../kernels/load.js';

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32Table(bytes: Uint8Array, seed: number): number {
  let c = ~seed >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `bytes`, continuing from `seed` (the CRC of what came before). */
export function crc32(bytes: Uint8Array, seed = 0): number {
  return native ? native(bytes, seed) >>> 0 : crc32Table(bytes, seed);
}

/** The table-driven implementation, exported so tests can hold the two against each other. */
export const crc32Portable = crc32Table;

// The snapcopy checksum of delta-stream records and RCP frames: the Fletcher checksum of
// assembly/checksum.ts (why that function: its header), run by the kernels in chunks
// copied into their memory. The state starts as a = seed's low half + total length (so
// trailing zero bytes count), b = seed's high half; the result is (b << 32) | a.

/** Bytes copied into the kernels' memory per step: small enough to stay in cache. */
const CHUNK = 256 * 1024;
const MASK32 = 0xffffffffn;

let engine: Kernels | undefined;

function withStaging(k: Kernels): Kernels {
  if (!k.memory.grow(ARENA_BASE + CHUNK)) throw new Error('the checksum kernels cannot get their staging memory');
  return k;
}

function kernels(): Kernels {
  engine ??= withStaging(loadKernels('auto'));
  return engine;
}

/**
 * Which kernels compute checksums from now on ('auto', the default: WebAssembly where
 * it runs). Both give the same values; the choice only changes speed.
 */
export function useChecksumKernels(choice: BackendChoice): void {
  engine = withStaging(loadKernels(choice));
}

/** The backend computing checksums now. */
export function checksumBackend(): Backend {
  return kernels().backend;
}

function stepParts(k: Kernels, parts: readonly Uint8Array[], state: bigint): bigint {
  const staging = new Uint8Array(k.memory.buffer, ARENA_BASE, CHUNK);
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    if (p < parts.length - 1 && (part.length & 3) !== 0) {
      throw new Error('checksum: every part but the last must be a multiple of 4 bytes');
    }
    if (part.buffer === k.memory.buffer) {
      // Lent from the kernels' memory (lendChecksumBuffers): summed where it lies.
      state = k.checksum(part.byteOffset, part.length, state);
      continue;
    }
    for (let at = 0; at < part.length; at += CHUNK) {
      const piece = part.subarray(at, at + CHUNK);
      staging.set(piece);
      state = k.checksum(ARENA_BASE, piece.length, state);
    }
  }
  return state;
}

/**
 * The 64-bit checksum of `parts` taken as one run of bytes (each part but the last a
 * multiple of 4 bytes long), starting from `seed` (another checksum, to chain them).
 */
export function checksum64(parts: Uint8Array | readonly Uint8Array[], seed = 0n): bigint {
  const list = parts instanceof Uint8Array ? [parts] : parts;
  let length = 0;
  for (const part of list) length += part.length;
  const a = (seed + BigInt(length)) & MASK32;
  return stepParts(kernels(), list, ((seed >> 32n) << 32n) | a);
}

/**
 * The 32-bit form for 32-bit fields: a + 2b of the 64-bit checksum, which weights every
 * word by an odd number, so any error within 4 consecutive bytes still changes it.
 */
export function checksum32(parts: Uint8Array | readonly Uint8Array[], seed = 0n): number {
  return fold32(checksum64(parts, seed));
}

export function fold32(sum: bigint): number {
  return (Number(sum & MASK32) + 2 * Number(sum >> 32n)) >>> 0;
}

/** The area lent out of the kernels' memory: six buffers of up to 4 MiB (an export's read ring takes five). */
const LOAN_SLOT = 4 << 20;
const LOAN_SLOTS = 6;

let loans: { kernels: Kernels; base: number; free: number[] } | undefined;

/**
 * `count` buffers of `bytes` (at most 4 MiB each) inside the checksum kernels' memory,
 * or undefined when that many are not free: bytes read into one are summed where they
 * lie, with no copy into the staging area (an export reads into them: at 20 GB/s from
 * the page cache, the copy cost as much as the sum). The area is made on the first
 * loan and the memory never grows after, so the views stay valid. Give them back with
 * returnChecksumBuffers once nothing uses them.
 */
export function lendChecksumBuffers(count: number, bytes: number): Uint8Array[] | undefined {
  const k = kernels();
  if (bytes > LOAN_SLOT || count > LOAN_SLOTS) return undefined;
  if (loans?.kernels !== k) {
    const base = ARENA_BASE + CHUNK;
    if (!k.memory.grow(base + LOAN_SLOT * LOAN_SLOTS)) return undefined;
    loans = { kernels: k, base, free: Array.from({ length: LOAN_SLOTS }, (_, i) => i) };
  }
  if (loans.free.length < count) return undefined;
  const { base } = loans;
  return loans.free.splice(0, count).map((slot) => new Uint8Array(k.memory.buffer, base + slot * LOAN_SLOT, bytes));
}

/** Gives back buffers from lendChecksumBuffers (those of kernels since replaced are dropped). */
export function returnChecksumBuffers(buffers: readonly Uint8Array[]): void {
  if (!loans) return;
  for (const b of buffers) {
    if (b.buffer === loans.kernels.memory.buffer) loans.free.push((b.byteOffset - loans.base) / LOAN_SLOT);
  }
}

let stagingView: Uint8Array | undefined;

/** The staging bytes as one view, made again only when the kernels' memory was replaced. */
function staging(k: Kernels): Uint8Array {
  if (stagingView?.buffer !== k.memory.buffer) stagingView = new Uint8Array(k.memory.buffer, ARENA_BASE, CHUNK);
  return stagingView;
}

/**
 * The checksum64 of each of `n` records of `stride` bytes (a multiple of 4) laid back to
 * back from bytes[0], into sums[0..n): one copy into the kernels' memory per 256 KiB and
 * no views or lists per record, for callers that sum many small records at a time (a
 * save volume's), where those allocations would cost more than the sums.
 */
export function checksum64Records(bytes: Uint8Array, stride: number, n: number, sums: BigUint64Array): void {
  if (stride <= 0 || (stride & 3) !== 0) throw new Error('checksum64Records: the stride must be a positive multiple of 4');
  const k = kernels();
  const stage = staging(k);
  const fresh = BigInt(stride) & MASK32; // the state of checksum64 before a record's bytes (seed 0)
  const total = stride * n;
  let r = 0;
  let done = 0;
  let state = fresh;
  for (let at = 0; at < total; at += CHUNK) {
    const len = Math.min(CHUNK, total - at);
    stage.set(bytes.subarray(at, at + len));
    // Pieces end at chunk or record boundaries, both multiples of 4, as the kernel's steps must.
    for (let p = 0; p < len;) {
      const take = Math.min(stride - done, len - p);
      state = k.checksum(ARENA_BASE + p, take, state);
      p += take;
      done += take;
      if (done === stride) {
        sums[r++] = state;
        state = fresh;
        done = 0;
      }
    }
  }
}
