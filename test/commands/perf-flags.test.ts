// The command line's performance switches (issue 12): `write --no-compare` turns the
// nop-write off (a rewrite of the same bytes is then a change the next delta carries),
// and `--map-cache` caps the checkpoint maps a data directory keeps staged (reads and
// scans stay exact; what stays staged after a command is under the cap).
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { mapCacheOf, type MapCacheStats } from '../../src/checkpoint/checkpoint.js';
import { main } from '../../src/commands/cli.js';
import { DataDir } from '../../src/volume/data-dir.js';
import { backend } from '../helpers/backend.js';
import { removeDir, tempDir } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('perf-flags');
const BLOCK = 4096;

let root = '';
let counter = 0;

beforeAll(async () => {
  root = await tempDir('snapcopy-perf-flags-');
});
afterAll(async () => {
  await removeDir(root);
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function run(data: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(['--data', data, '--kernels', backend, ...argv], {
    env: {},
    stdout: async (line) => void stdout.push(`${line}\n`),
    stderr: (line) => void stderr.push(line),
  });
  return { code, stdout: stdout.join(''), stderr };
}

async function ok(data: string, ...argv: string[]): Promise<string> {
  const r = await run(data, ...argv);
  expect(r.stderr.filter((line) => !line.startsWith('write:')), argv.join(' ')).toEqual([]);
  expect(r.code, argv.join(' ')).toBe(0);
  return r.stdout;
}

function fresh(): string {
  return join(root, `t${counter++}`);
}

async function deltaBlocks(data: string, older: string): Promise<number> {
  return (JSON.parse(await ok(data, 'diff', 'vol', older, '--size', '--json')) as { dataBlocks: number }).dataBlocks;
}

describe(`write --no-compare (${backend})`, () => {
  test('a rewrite of identical data marks every block only with --no-compare', async () => {
    const data = fresh();
    const prng = new Prng(SEED);
    const file = join(root, `same-${counter}.bin`);
    writeFileSync(file, prng.fill(new Uint8Array(64 * BLOCK)));
    await ok(data, 'create', 'vol', '--size', String(256 * BLOCK), '--block-size', String(BLOCK));
    await ok(data, 'write', 'vol', file, '--offset', String(8 * BLOCK));
    await ok(data, 'ckpt', 'create', 'vol@a');
    await ok(data, 'write', 'vol', file, '--offset', String(8 * BLOCK));
    expect(await deltaBlocks(data, 'a')).toBe(0); // nop-write: nothing changed
    await ok(data, 'write', 'vol', file, '--offset', String(8 * BLOCK), '--no-compare');
    expect(await deltaBlocks(data, 'a')).toBe(64);
    // The bytes are the same either way.
    const out = join(root, `out-${counter}.bin`);
    await ok(data, 'cat', 'vol', '--out', out);
    expect(Buffer.compare((await readFile(out)).subarray(8 * BLOCK, 72 * BLOCK), await readFile(file))).toBe(0);
  });

  test('--no-compare through --node is refused in one line, before anything is written', async () => {
    const data = fresh();
    await ok(data, 'create', 'vol', '--size', String(16 * BLOCK), '--block-size', String(BLOCK));
    const file = join(root, `small-${counter}.bin`);
    writeFileSync(file, new Uint8Array(BLOCK).fill(7));
    const r = await run(data, '--node', '127.0.0.1:1', 'write', 'vol', file, '--no-compare');
    expect(r.code).toBe(2);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(/--no-compare.*\[ERR_USAGE\]/);
  });
});

describe(`--map-cache (${backend})`, () => {
  /** Runs a command while recording the map cache of the data directory it opens, as it is just before closing. */
  async function withCacheStats(data: string, ...argv: string[]): Promise<{ stdout: string; stats: MapCacheStats }> {
    let stats: MapCacheStats | undefined;
    const open = DataDir.open.bind(DataDir);
    vi.spyOn(DataDir, 'open').mockImplementation(async (path, options) => {
      const dir = await open(path, options);
      const close = dir.close.bind(dir);
      vi.spyOn(dir, 'close').mockImplementation(async () => {
        stats = mapCacheOf(dir.arena).stats();
        return close();
      });
      return dir;
    });
    const stdout = await ok(data, ...argv);
    vi.restoreAllMocks();
    return { stdout, stats: stats! };
  }

  test('a small cap keeps scans and reads across many checkpoints exact, and what stays staged under it', async () => {
    const data = fresh();
    const prng = new Prng(SEED + 1);
    const blocks = 4096;
    const checkpoints = 24;
    await ok(data, 'create', 'vol', '--size', String(blocks * BLOCK), '--block-size', String(BLOCK));
    const file = join(root, `piece-${counter}.bin`);
    for (let c = 0; c < checkpoints; c++) {
      // Runs spread over the volume, so every checkpoint's bit map holds pages of its own.
      for (let r = 0; r < 4; r++) {
        writeFileSync(file, prng.fill(new Uint8Array(BLOCK * prng.int(1, 8))));
        await ok(data, 'write', 'vol', file, '--offset', String(prng.int(0, blocks - 8) * BLOCK));
      }
      await ok(data, 'ckpt', 'create', `vol@c${c}`);
    }
    const cap = 64 * 1024;
    const scan = ['diff', 'vol', 'c0', `c${checkpoints - 1}`, '--json'];
    const big = await withCacheStats(data, ...scan);
    const small = await withCacheStats(data, '--map-cache', '64K', ...scan);
    expect(small.stdout).toBe(big.stdout); // the same extents under the small cap
    expect(big.stats.capBytes).toBe(256 * 2 ** 20);
    expect(big.stats.evicted).toBe(0);
    expect(small.stats.capBytes).toBe(cap);
    expect(small.stats.evicted).toBeGreaterThan(0);
    expect(small.stats.bytes).toBeLessThanOrEqual(cap);
    // Reads of old checkpoints overlay every younger save volume: exact under the cap too.
    for (const c of [0, 7, checkpoints - 2]) {
      const a = join(root, `a-${counter}-${c}.bin`);
      const b = join(root, `b-${counter}-${c}.bin`);
      await ok(data, 'cat', `vol@c${c}`, '--out', a);
      const read = await withCacheStats(data, '--map-cache', String(cap), 'cat', `vol@c${c}`, '--out', b);
      expect(read.stats.bytes).toBeLessThanOrEqual(cap);
      expect(Buffer.compare(await readFile(a), await readFile(b)), `vol@c${c}`).toBe(0);
    }
  });

  test('a cap that is not a size is refused in one line', async () => {
    const data = fresh();
    for (const bad of ['lots', '-1', '1.5M']) {
      const r = await run(data, '--map-cache', bad, 'list');
      expect(r.code, bad).not.toBe(0);
      expect(r.stderr, bad).toHaveLength(1);
      expect(r.stderr[0], bad).toMatch(/--map-cache.*\[ERR_/);
    }
  });
});
