// bench-diff: the delta count and the delta scan of one volume, measured with both
// kernel backends on the user's own data. A backend's arena belongs to the DataDir
// that opened it, and a volume is held by one open at a time, so each backend gets
// its own DataDir in turn: open, warm up, measure, close, then the other.
//
// Everything is timed through the public API (diffSize and diff), so each time
// includes planning the scan (staging maps already in memory after the warm-up) and,
// for the scan, handing every extent to the caller.

import { join } from 'node:path';
import type { DeltaExtent, DeltaSize } from '../checkpoint/delta.js';
import { SnapcopyError, invalidArgument } from '../errors.js';
import type { Kernels } from '../kernels/api.js';
import { lockHolder } from '../storage/lock.js';
import { DataDir } from './data-dir.js';
import { parseCheckpointSpec } from './names.js';
import type { Volume } from './volume.js';

export type BenchBackend = 'wasm' | 'ts';

export const BENCH_BACKENDS: readonly BenchBackend[] = ['wasm', 'ts'];

export interface BenchDiffOptions {
  /** The data directory. */
  path: string;
  volume: string;
  /** The older checkpoint's name (or `<volume>@<name>`). */
  older: string;
  /** The newer checkpoint's name (or `<volume>@<name>`); left out: the live volume. */
  newer?: string;
  /** Timed runs of each operation per backend (the median is reported); default 5. */
  repeat?: number;
  /** Seconds to wait for the volume when another process holds it (default 0). */
  wait?: number;
  /** Kernels to run as a backend instead of loading it by name (tests hand in a faulty one). */
  kernels?: Partial<Record<BenchBackend, Kernels>>;
}

/** What one scan found: enough to tell two scans apart without keeping the extents. */
export interface ScanOutcome {
  extents: number;
  /** A digest of every extent (kind, start, count) in order: 16 hex digits (two 32-bit FNV-1a lanes). */
  digest: string;
  first: DeltaExtent | null;
  last: DeltaExtent | null;
}

export interface BackendTiming {
  backend: BenchBackend;
  /** Median milliseconds of diffSize (the exact count). */
  countMs: number;
  /** Median milliseconds of diff, every extent taken. */
  scanMs: number;
  /** scannedBytes.total over the median time, in GB/s (10^9 bytes); null when no stored page is read. */
  countGBps: number | null;
  scanGBps: number | null;
  /** Every timed run, in order. */
  countRunsMs: number[];
  scanRunsMs: number[];
  size: DeltaSize;
  scan: ScanOutcome;
}

export interface BenchDiffResult {
  volume: string;
  older: string;
  /** null: the live volume. */
  newer: string | null;
  blocks: number;
  blockSize: number;
  granularity: number;
  repeat: number;
  /**
   * Bytes a count or a scan reads: stored pages of the bit maps and meta maps it passes
   * over (page tables, and all-zero / all-one pages, which are not stored, not counted).
   */
  scannedBytes: { bitmap: number; meta: number; total: number };
  /** In the order of BENCH_BACKENDS. */
  backends: BackendTiming[];
  /** ts time / wasm time. */
  ratio: { count: number; scan: number };
}

const MAX_REPEAT = 1000;

/**
 * Measures delta(older, newer) of one volume with the wasm and the ts kernels, and
 * checks that both give the same counts and the same extents (ERR_INTERNAL if not).
 */
export async function benchDiff(options: BenchDiffOptions): Promise<BenchDiffResult> {
  const repeat = options.repeat ?? 5;
  if (!Number.isSafeInteger(repeat) || repeat < 1 || repeat > MAX_REPEAT) {
    throw invalidArgument(`repeat must be a whole number from 1 to ${MAX_REPEAT}, not ${repeat}`);
  }
  const older = ownCheckpoint(options.volume, options.older);
  const newer = options.newer === undefined ? undefined : ownCheckpoint(options.volume, options.newer);
  await refuseNodeOwned(options.path);
  const runs: Measured[] = [];
  for (const backend of BENCH_BACKENDS) runs.push(await measureBackend(backend, { ...options, older, newer, repeat }));
  checkAgreement(options.volume, runs);
  const [wasm, ts] = runs as [Measured, Measured];
  const { bitmapBytes, metaBytes } = wasm.scanned;
  const total = bitmapBytes + metaBytes;
  const gbps = (ms: number) => (total === 0 || ms <= 0 ? null : total / (ms * 1e6));
  return {
    ...wasm.shape,
    volume: options.volume,
    older,
    newer: newer ?? null,
    repeat,
    scannedBytes: { bitmap: bitmapBytes, meta: metaBytes, total },
    backends: runs.map(({ timing: t }) => ({ ...t, countGBps: gbps(t.countMs), scanGBps: gbps(t.scanMs) })),
    ratio: { count: ts.timing.countMs / wasm.timing.countMs, scan: ts.timing.scanMs / wasm.timing.scanMs },
  };
}

/** A checkpoint of `volume` given as `name` or `volume@name`: the name. */
function ownCheckpoint(volume: string, spec: string): string {
  const parsed = parseCheckpointSpec(spec);
  if (parsed.volume !== undefined && parsed.volume !== volume) {
    throw invalidArgument(`${spec} is a checkpoint of ${parsed.volume}, not of ${volume}: both checkpoints must be of one volume`);
  }
  return parsed.checkpoint;
}

/** The kernels are measured in this process, so a directory a running node owns cannot be used. */
async function refuseNodeOwned(path: string): Promise<void> {
  const node = await lockHolder(join(path, 'node'));
  if (node === undefined) return;
  throw new SnapcopyError('ERR_LOCKED',
    `data directory ${path} is served by a running node (process ${node}): bench-diff measures the kernels in its own process, so stop the node first`);
}

interface Measured {
  timing: Omit<BackendTiming, 'countGBps' | 'scanGBps'>;
  scanned: { bitmapBytes: number; metaBytes: number };
  shape: { blocks: number; blockSize: number; granularity: number };
}

type Resolved = Required<Pick<BenchDiffOptions, 'path' | 'volume' | 'older' | 'repeat'>> & Pick<BenchDiffOptions, 'newer' | 'wait' | 'kernels'>;

async function measureBackend(backend: BenchBackend, options: Resolved): Promise<Measured> {
  const dir = await DataDir.open(options.path, { kernels: options.kernels?.[backend] ?? backend, create: false, wait: options.wait });
  try {
    const volume = await dir.volume(options.volume);
    const { older, newer } = options;
    // The warm-up stages the maps and lets the engine compile the hot paths.
    const size = await volume.diffSize(older, newer);
    const scan = await scanOnce(volume, older, newer);
    const countRunsMs: number[] = [];
    const scanRunsMs: number[] = [];
    for (let i = 0; i < options.repeat; i++) {
      const start = performance.now();
      const again = await volume.diffSize(older, newer);
      countRunsMs.push(performance.now() - start);
      if (!sameSize(again, size)) throw disagreement(`the ${backend} backend counted differently on two runs`);
    }
    for (let i = 0; i < options.repeat; i++) {
      const start = performance.now();
      const again = await scanOnce(volume, older, newer);
      scanRunsMs.push(performance.now() - start);
      if (again.outcome.digest !== scan.outcome.digest) throw disagreement(`the ${backend} backend scanned differently on two runs`);
    }
    checkScanMatchesCount(backend, size, scan);
    return {
      timing: { backend, countMs: median(countRunsMs), scanMs: median(scanRunsMs), countRunsMs, scanRunsMs, size, scan: scan.outcome },
      scanned: await volume.diffScanBytes(older, newer),
      shape: { blocks: volume.blocks, blockSize: volume.blockSize, granularity: volume.granularity },
    };
  } finally {
    await dir.close();
  }
}

interface Scan {
  outcome: ScanOutcome;
  dataBlocks: number;
  unusedBlocks: number;
}

/** Two 32-bit FNV-1a lanes with different starting points, fed one 32-bit word at a time. */
class Digest {
  #low = 0x811c9dc5;
  #high = 0x050c5d1f;

  add(word: number): void {
    this.#low = Math.imul(this.#low ^ word, 0x01000193) >>> 0;
    this.#high = Math.imul(this.#high ^ Math.imul(word, 0x9e3779b1), 0x01000193) >>> 0;
  }

  hex(): string {
    return this.#high.toString(16).padStart(8, '0') + this.#low.toString(16).padStart(8, '0');
  }
}

/** One full scan, folded as it goes so that nothing grows with the number of extents. */
async function scanOnce(volume: Volume, older: string, newer: string | undefined): Promise<Scan> {
  const digest = new Digest();
  let extents = 0;
  let dataBlocks = 0;
  let unusedBlocks = 0;
  let first: DeltaExtent | null = null;
  let last: DeltaExtent | null = null;
  for await (const extent of volume.diff(older, newer)) {
    digest.add(extent.kind === 'data' ? 1 : 2);
    digest.add(extent.start);
    digest.add(extent.count);
    if (extent.kind === 'data') dataBlocks += extent.count;
    else unusedBlocks += extent.count;
    first ??= extent;
    last = extent;
    extents++;
  }
  return { outcome: { extents, digest: digest.hex(), first, last }, dataBlocks, unusedBlocks };
}

function sameSize(a: DeltaSize, b: DeltaSize): boolean {
  return a.dataBlocks === b.dataBlocks && a.unusedBlocks === b.unusedBlocks && a.dataBytes === b.dataBytes;
}

/** The count and the scan of one backend describe the same delta. */
function checkScanMatchesCount(backend: BenchBackend, size: DeltaSize, scan: Scan): void {
  if (scan.dataBlocks === size.dataBlocks && scan.unusedBlocks === size.unusedBlocks) return;
  throw disagreement(`the ${backend} backend's scan covers ${scan.dataBlocks} data and ${scan.unusedBlocks} unused blocks`
    + ` but its count says ${size.dataBlocks} and ${size.unusedBlocks}`);
}

/** Both backends found the same counts and the same extents. */
function checkAgreement(volume: string, runs: readonly Measured[]): void {
  const [a, b] = runs.map((r) => r.timing) as [Measured['timing'], Measured['timing']];
  const say = (t: Measured['timing']) => `${t.backend}: ${t.size.dataBlocks} data and ${t.size.unusedBlocks} unused blocks,`
    + ` ${t.scan.extents} extents, digest ${t.scan.digest}`;
  if (sameSize(a.size, b.size) && a.scan.extents === b.scan.extents && a.scan.digest === b.scan.digest) return;
  throw disagreement(`the kernel backends disagree on the delta of ${volume} (${say(a)}; ${say(b)})`);
}

function disagreement(message: string): SnapcopyError {
  return new SnapcopyError('ERR_INTERNAL', `${message}: this is a bug in snapcopy's kernels, please report it`);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
