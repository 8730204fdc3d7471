// Block-by-block comparison of two byte arrays with the compareBlocks kernel, for
// nop-write: a block written with the content it already holds is no change, so the
// caller can skip it (neither saved nor marked). Bytes are compared, no hash.
//
// Two ways, chosen by block size from measurements (bench/lib/compare-blocks.mjs): the
// kernel needs the bytes in its memory, so both sides are copied in, which costs more
// than the compare itself; Buffer.compare (memcmp) reads the arrays where they are but
// pays ~0.1 us a call. Per-block memcmp wins from 2 KiB blocks up (2-4 x at 4 KiB-1 MiB,
// more when blocks differ early), the staged kernel below it (2-3 x at 512 B).

import { Buffer } from 'node:buffer';
import { invalidArgument } from '../errors.js';
import { ARENA_BASE, type BackendChoice, type Kernels } from './api.js';
import { loadKernels } from './load.js';

/** Bytes of each side staged in the kernels' memory per call: small enough to stay in cache. */
const CHUNK = 256 * 1024;
/** The largest block snapcopy has (DESIGN.md §2); a staging window holds at least one. */
const MAX_BLOCK = 1 << 20;
/** Flags of one call: CHUNK / 1 blocks at most (1-byte blocks). */
const FLAG_BYTES = CHUNK;

let engine: Kernels | undefined;

function withStaging(k: Kernels): Kernels {
  const window = Math.max(CHUNK, MAX_BLOCK);
  if (!k.memory.grow(ARENA_BASE + 2 * window + FLAG_BYTES)) {
    throw new Error('the block-compare kernels cannot get their staging memory');
  }
  return k;
}

function kernels(): Kernels {
  engine ??= withStaging(loadKernels('auto'));
  return engine;
}

/** Which kernels compare blocks from now on ('auto': WebAssembly where it runs). Same answers either way. */
export function useBlockCompareKernels(choice: BackendChoice): void {
  engine = withStaging(loadKernels(choice));
}

function checkArgs(a: Uint8Array, b: Uint8Array, blockBytes: number): number {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) throw invalidArgument('blocks to compare must be Uint8Arrays');
  if (!Number.isSafeInteger(blockBytes) || blockBytes < 1 || blockBytes > MAX_BLOCK) {
    throw invalidArgument(`a block size must be 1..${MAX_BLOCK} bytes, not ${blockBytes}`);
  }
  if (a.length !== b.length) throw invalidArgument(`cannot compare ${a.length} bytes with ${b.length}`);
  if (a.length % blockBytes !== 0) throw invalidArgument(`${a.length} bytes are not whole blocks of ${blockBytes}`);
  return a.length / blockBytes;
}

/** Blocks from this size up are compared with one Buffer.compare each, smaller ones by the kernel. */
export const MEMCMP_MIN_BLOCK = 2048;

export type BlockCompareWay = 'auto' | 'kernel' | 'memcmp';

/**
 * One byte per block of `a` and `b` (equal lengths, whole blocks of `blockBytes`):
 * 1 where the block differs, 0 where it is the same. `out`, when given, receives the
 * flags (at least one byte per block) and is returned. `way` is for benchmarks; the
 * answer is the same whichever way.
 */
export function differingBlocks(a: Uint8Array, b: Uint8Array, blockBytes: number, out?: Uint8Array,
  way: BlockCompareWay = 'auto'): Uint8Array {
  const blocks = checkArgs(a, b, blockBytes);
  const flags = out ?? new Uint8Array(blocks);
  if (!(flags instanceof Uint8Array) || flags.length < blocks) throw invalidArgument(`the flags need ${blocks} bytes`);
  const memcmp = way === 'memcmp' || (way === 'auto' && blockBytes >= MEMCMP_MIN_BLOCK);
  if (memcmp) compareInPlace(a, b, blockBytes, blocks, flags);
  else compareStaged(kernels(), a, b, blockBytes, blocks, flags);
  return flags;
}

/** How many blocks of `a` and `b` differ (as differingBlocks). */
export function countDifferingBlocks(a: Uint8Array, b: Uint8Array, blockBytes: number): number {
  let n = 0;
  for (const d of differingBlocks(a, b, blockBytes)) n += d;
  return n;
}

/** Copies whole blocks into the kernels' memory a window at a time and compares them there. */
function compareStaged(k: Kernels, a: Uint8Array, b: Uint8Array, blockBytes: number, blocks: number, flags: Uint8Array): void {
  const window = Math.max(CHUNK, MAX_BLOCK);
  const perCall = Math.max(1, Math.floor(CHUNK / blockBytes));
  const x = ARENA_BASE;
  const y = ARENA_BASE + window;
  const out = ARENA_BASE + 2 * window;
  for (let first = 0; first < blocks; first += perCall) {
    const n = Math.min(perCall, blocks - first);
    const start = first * blockBytes;
    const end = start + n * blockBytes;
    const memory = new Uint8Array(k.memory.buffer);
    memory.set(a.subarray(start, end), x);
    memory.set(b.subarray(start, end), y);
    k.compareBlocks(x, y, blockBytes, n, out);
    flags.set(memory.subarray(out, out + n), first);
  }
}

/** One Buffer.compare per block, on the arrays where they are (no copy). */
function compareInPlace(a: Uint8Array, b: Uint8Array, blockBytes: number, blocks: number, flags: Uint8Array): void {
  const x = Buffer.from(a.buffer, a.byteOffset, a.length);
  const y = Buffer.from(b.buffer, b.byteOffset, b.length);
  for (let i = 0, at = 0; i < blocks; i++, at += blockBytes) {
    flags[i] = x.compare(y, at, at + blockBytes, at, at + blockBytes) === 0 ? 0 : 1;
  }
}
