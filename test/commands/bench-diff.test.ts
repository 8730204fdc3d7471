// bench-diff: the delta count and scan of a user's volume timed with both kernel
// backends. What can be checked without trusting the clock: both backends report the
// same counts and extents, and those are what `diff` reports; the table and the JSON
// say the same; a backend that disagrees fails the command; bad input is refused with
// its code and changes nothing.
//
// Commands run main() in this process with captured output; the volume is built
// through the library with seeded random writes and discards.
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../src/commands/cli.js';
import { SnapcopyError } from '../../src/errors.js';
import type { Kernels } from '../../src/kernels/api.js';
import { createTsKernels } from '../../src/kernels/ts/index.js';
import { lockDir } from '../../src/storage/lock.js';
import { benchDiff, type BenchDiffResult } from '../../src/volume/bench-diff.js';
import { DataDir } from '../../src/volume/data-dir.js';
import { backend } from '../helpers/backend.js';
import { removeDir, tempDir } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('bench-diff');
const BLOCK = 512;
const BLOCKS = 70_000; // three bit map pages (32768 blocks each), the last one partial

interface Run {
  code: number;
  stdout: string;
  stderrCalls: string[];
}

async function run(data: string, ...argv: string[]): Promise<Run> {
  const stdout: string[] = [];
  const stderrCalls: string[] = [];
  const code = await main(['--data', data, ...argv], {
    env: { SNAPCOPY_KERNELS: backend },
    stdout: async (line) => void stdout.push(`${line}\n`),
    stderr: (line) => void stderrCalls.push(line),
  });
  return { code, stdout: stdout.join(''), stderrCalls };
}

async function ok(data: string, ...argv: string[]): Promise<string> {
  const result = await run(data, ...argv);
  expect(result.stderrCalls, argv.join(' ')).toEqual([]);
  expect(result.code, argv.join(' ')).toBe(0);
  return result.stdout;
}

/** A failure: exit 2 for usage, 1 otherwise, one line ending with the code. */
async function refused(data: string, code: string, ...argv: string[]): Promise<string> {
  const result = await run(data, ...argv);
  expect(result.code, `${argv.join(' ')}: ${result.stderrCalls.join(' | ')}`).toBe(code === 'ERR_USAGE' ? 2 : 1);
  expect(result.stdout).toBe('');
  expect(result.stderrCalls).toHaveLength(1);
  expect(result.stderrCalls[0]).not.toContain('\n');
  expect(result.stderrCalls[0]).toMatch(new RegExp(`^snapcopy bench-diff: .*\\[${code}\\]$`));
  return result.stderrCalls[0]!;
}

let root = '';
let data = '';

/** Runs written so far, so that discards can hit blocks in use. */
const written: [number, number][] = [];

/**
 * Writes runs of random blocks (clustered, as real changes are), then discards a few
 * runs of `discardFrom` (runs in use before, so that whole granules become unused).
 */
async function scribble(dir: DataDir, prng: Prng, runs: number, discardFrom: readonly [number, number][]): Promise<void> {
  const volume = await dir.volume('vol');
  for (let i = 0; i < runs; i++) {
    const count = prng.int(1, 40);
    const start = prng.int(0, BLOCKS - count);
    const bytes = new Uint8Array(count * BLOCK);
    for (let b = 0; b < count; b++) bytes[b * BLOCK + prng.int(0, BLOCK - 1)] = prng.int(1, 255);
    await volume.write(start * BLOCK, bytes);
    written.push([start, count]);
  }
  const wide = discardFrom.filter(([, count]) => count >= 4);
  for (let i = 0; i < 4 && wide.length > 0; i++) {
    const [start, count] = prng.pick(wide);
    await volume.discard(start * BLOCK, count * BLOCK);
  }
}

beforeAll(async () => {
  root = await tempDir('snapcopy-bench-diff-');
  data = join(root, 'data');
  const prng = new Prng(SEED);
  const dir = await DataDir.open(data, { kernels: backend });
  try {
    const volume = await dir.createVolume('vol', { size: BLOCKS * BLOCK, blockSize: BLOCK, granularity: 1 });
    await scribble(dir, prng, 60, []);
    await volume.createCheckpoint('mon');
    await scribble(dir, prng, 120, written.slice());
    await volume.createCheckpoint('tue');
    await volume.createCheckpoint('same'); // nothing written since tue
    await scribble(dir, prng, 30, written.slice());
    await dir.createVolume('other', { size: 64 * BLOCK, blockSize: BLOCK });
    await (await dir.volume('other')).createCheckpoint('mon');
  } finally {
    await dir.close();
  }
});
afterAll(async () => {
  await removeDir(root);
});

interface Extent {
  kind: string;
  start: number;
  count: number;
}

/** What `diff` reports for the same pair: extents and exact size. */
async function diffOf(...pair: string[]): Promise<{ extents: Extent[]; size: { dataBlocks: number; unusedBlocks: number } }> {
  const extents = JSON.parse(await ok(data, 'diff', 'vol', ...pair, '--json')) as Extent[];
  const size = JSON.parse(await ok(data, 'diff', 'vol', ...pair, '--size', '--json')) as { dataBlocks: number; unusedBlocks: number };
  return { extents, size };
}

/** Both backends found exactly what diff finds. */
function expectAgreesWithDiff(result: BenchDiffResult, expected: Awaited<ReturnType<typeof diffOf>>): void {
  expect(result.backends.map((b) => b.backend)).toEqual(['wasm', 'ts']);
  for (const b of result.backends) {
    expect(b.size).toMatchObject(expected.size);
    expect(b.scan.extents).toBe(expected.extents.length);
    expect(b.scan.first).toEqual(expected.extents[0] ?? null);
    expect(b.scan.last).toEqual(expected.extents.at(-1) ?? null);
  }
  expect(result.backends[0]!.scan.digest).toMatch(/^[0-9a-f]{16}$/);
  expect(result.backends[1]!.scan.digest).toBe(result.backends[0]!.scan.digest);
}

describe('bench-diff measures both backends on the same delta', () => {
  test('--json: counts, extents and digests agree with each other and with diff; times and rates are consistent', async () => {
    const expected = await diffOf('mon', 'tue');
    expect(expected.extents.length).toBeGreaterThan(20);
    expect(expected.size.unusedBlocks).toBeGreaterThan(0);
    const result = JSON.parse(await ok(data, 'bench-diff', 'vol@mon', 'tue', '--repeat', '3', '--json')) as BenchDiffResult;
    expect(result).toMatchObject({ volume: 'vol', older: 'mon', newer: 'tue', repeat: 3, blocks: BLOCKS, blockSize: BLOCK, granularity: 1 });
    expectAgreesWithDiff(result, expected);
    const bytes = result.scannedBytes;
    expect(bytes.total).toBe(bytes.bitmap + bytes.meta);
    // Bit map pages are dense (4 KiB) or sparse (a u16 count and a u16 per bit); meta maps are dense.
    expect(bytes.meta % 4096).toBe(0);
    expect(bytes.bitmap).toBeGreaterThan(0);
    // At most: 3 pages for each of the 1 bit map scanned, and 3 meta maps read in two passes (2 pages each at g = 1).
    expect(bytes.bitmap).toBeLessThanOrEqual(3 * 4096);
    expect(bytes.meta).toBeGreaterThan(0);
    expect(bytes.meta).toBeLessThanOrEqual(6 * 2 * 4096);
    for (const b of result.backends) {
      expect(b.countRunsMs).toHaveLength(3);
      expect(b.scanRunsMs).toHaveLength(3);
      expect(b.countMs).toBe([...b.countRunsMs].sort((x, y) => x - y)[1]);
      expect(b.scanMs).toBe([...b.scanRunsMs].sort((x, y) => x - y)[1]);
      expect(b.countGBps).toBeCloseTo(bytes.total / (b.countMs * 1e6), 9);
      expect(b.scanGBps).toBeCloseTo(bytes.total / (b.scanMs * 1e6), 9);
    }
    const [wasm, ts] = result.backends;
    expect(result.ratio.count).toBeCloseTo(ts!.countMs / wasm!.countMs, 9);
    expect(result.ratio.scan).toBeCloseTo(ts!.scanMs / wasm!.scanMs, 9);
  });

  test('the table: a row per backend with the same extents, the ratio row, and what was counted', async () => {
    const expected = await diffOf('mon');
    const lines = (await ok(data, 'bench-diff', 'vol@mon', '--repeat', '1')).trimEnd().split('\n');
    expect(lines[0]).toBe(`delta of vol from mon to the live volume: ${BLOCKS} blocks of ${BLOCK} bytes, granularity 1; median of 1 run per backend`);
    expect(lines[1]).toMatch(/^bytes read per count or scan: [\d.]+ KiB \(stored pages of bit maps [\d.]+ (B|KiB) and meta maps [\d.]+ KiB; .*not at all\)$/);
    const rows = lines.slice(3, 7).map((line) => line.trim().split(/\s{2,}/));
    expect(rows[0]).toEqual(['BACKEND', 'COUNT', 'COUNT GB/s', 'SCAN', 'SCAN GB/s', 'EXTENTS']);
    for (const [i, name] of ['wasm', 'ts'].entries()) {
      const row = rows[i + 1]!;
      expect(row).toHaveLength(6);
      expect(row[0]).toBe(name);
      expect(row[1]).toMatch(/^[\d.]+ ms$/);
      expect(row[2]).toMatch(/^[\d.]+$/);
      expect(row[3]).toMatch(/^[\d.]+ ms$/);
      expect(row[4]).toMatch(/^[\d.]+$/);
      expect(row[5]).toBe(String(expected.extents.length));
    }
    expect(rows[3]).toEqual([expect.stringMatching(/^ts\/wasm$/), expect.stringMatching(/^[\d.]+x$/), expect.stringMatching(/^[\d.]+x$/)]);
    expect(lines.at(-1)).toMatch(new RegExp(`^both backends agree: ${expected.size.dataBlocks} data and ${expected.size.unusedBlocks} unused blocks`
      + ` in ${expected.extents.length} extents \\(digest [0-9a-f]{16}\\)$`));
  });

  test('the newer checkpoint as <fs>@<name>, and an empty delta between two names of one image', async () => {
    const full = JSON.parse(await ok(data, 'bench-diff', 'vol@mon', 'vol@tue', '--repeat', '1', '--json')) as BenchDiffResult;
    expectAgreesWithDiff(full, await diffOf('mon', 'tue'));
    const empty = JSON.parse(await ok(data, 'bench-diff', 'vol@tue', 'same', '--repeat', '2', '--json')) as BenchDiffResult;
    expectAgreesWithDiff(empty, { extents: [], size: { dataBlocks: 0, unusedBlocks: 0 } });
    expect(empty.backends[0]!.scan).toMatchObject({ extents: 0, first: null, last: null });
  });
});

describe('a backend that disagrees fails the measurement (ERR_INTERNAL)', () => {
  /** The ts twin with one kernel replaced. */
  function tsWith(override: (real: Kernels) => Partial<Kernels>): Kernels {
    const real = createTsKernels();
    return Object.assign(Object.create(real) as Kernels, override(real));
  }

  test('a count one block too high', async () => {
    const kernels = tsWith((real) => ({ popcountMeta: (...a: Parameters<Kernels['popcountMeta']>) => real.popcountMeta(...a) + 1 }));
    const error = await benchDiff({ path: data, volume: 'vol', older: 'mon', newer: 'tue', repeat: 1, kernels: { ts: kernels } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SnapcopyError);
    expect((error as SnapcopyError).code).toBe('ERR_INTERNAL');
    expect((error as SnapcopyError).message).toMatch(/^the ts backend's scan covers \d+ data and \d+ unused blocks but its count says/);
  });

  test('extents moved by one block (same counts): the backends disagree', async () => {
    // Shifts the first extent of every batch one block later: counts stay, extents do not.
    const kernels = tsWith((real) => ({
      scanMeta: (...a: Parameters<Kernels['scanMeta']>) => {
        const n = real.scanMeta(...a);
        if (n > 0) new Uint32Array(real.memory.buffer)[a[7] >>> 2]! += 1;
        return n;
      },
    }));
    const error = await benchDiff({ path: data, volume: 'vol', older: 'mon', newer: 'tue', repeat: 1, kernels: { ts: kernels } }).catch((e: unknown) => e);
    expect((error as SnapcopyError).code).toBe('ERR_INTERNAL');
    expect((error as SnapcopyError).message).toMatch(/^the kernel backends disagree on the delta of vol \(wasm: .* digest [0-9a-f]{16}; ts: .* digest [0-9a-f]{16}\)/);
  });
});

describe('bad input: one line with its code, nothing changed', () => {
  test('usage, names, order, repeat, locks and a running node', async () => {
    const before = await snapshotOf(data);
    const usage: string[][] = [
      ['bench-diff'],
      ['bench-diff', 'mon'],
      ['bench-diff', 'vol@mon', 'tue', 'extra'],
      ['bench-diff', 'vol@mon', '--bogus'],
      ['--node', 'n1', 'bench-diff', 'vol@mon'],
    ];
    for (const argv of usage) await refused(data, 'ERR_USAGE', ...argv);
    expect(await refused(data, 'ERR_USAGE', '--node', '127.0.0.1:1', 'bench-diff', 'vol@mon')).toContain('bench-diff runs where the data is');
    expect(await refused(data, 'ERR_USAGE', 'bench-diff', 'mon')).toContain('as <fs>@mon');
    const failures: [string, string[]][] = [
      ['ERR_NOT_FOUND', ['bench-diff', 'nosuch@mon']],
      ['ERR_NOT_FOUND', ['bench-diff', 'vol@nosuch']],
      ['ERR_NOT_FOUND', ['bench-diff', 'vol@mon', 'nosuch']],
      ['ERR_NOT_YOUNGER', ['bench-diff', 'vol@tue', 'mon']],
      ['ERR_NOT_YOUNGER', ['bench-diff', 'vol@tue', 'tue']],
      ['ERR_INVALID_ARGUMENT', ['bench-diff', 'vol@mon', 'other@mon']],
      ['ERR_INVALID_ARGUMENT', ['bench-diff', 'vol@mon', '--repeat', '0']],
      ['ERR_INVALID_ARGUMENT', ['bench-diff', 'vol@mon', '--repeat', 'x']],
      ['ERR_INVALID_ARGUMENT', ['bench-diff', 'vol@mon', '--repeat', '1001']],
      ['ERR_INVALID_ARGUMENT', ['bench-diff', 'vol@b/d']],
    ];
    for (const [code, argv] of failures) await refused(data, code, ...argv);
    const missing = join(root, 'never');
    await refused(missing, 'ERR_NOT_FOUND', 'bench-diff', 'vol@mon');
    await expect(readdir(missing)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await snapshotOf(data)).toEqual(before);
  });

  test('a volume held open elsewhere is ERR_LOCKED, and so is a directory a node serves', async () => {
    const dir = await DataDir.open(data, { kernels: backend });
    try {
      await dir.volume('vol');
      expect(await refused(data, 'ERR_LOCKED', 'bench-diff', 'vol@mon', '--repeat', '1')).toContain('vol');
    } finally {
      await dir.close();
    }
    await mkdir(join(data, 'node'), { recursive: true });
    const node = await lockDir(join(data, 'node'));
    try {
      expect(await refused(data, 'ERR_LOCKED', 'bench-diff', 'vol@mon')).toContain('stop the node first');
    } finally {
      await node.release();
    }
    await ok(data, 'bench-diff', 'vol@mon', '--repeat', '1');
  });
});

/** What a user sees of the data directory: its volumes and checkpoints, and the deltas between them. */
async function snapshotOf(dir: string): Promise<string[]> {
  const volumes = (JSON.parse(await ok(dir, 'list', '--json')) as { usedBytes?: number }[]).map(({ usedBytes: _, ...v }) => v);
  return [JSON.stringify(volumes), await ok(dir, 'diff', 'vol', 'mon', 'tue', '--json'), await ok(dir, 'diff', 'vol', 'tue', '--json')];
}
