// Issue 8's everyday use at the command line: checkpoint names per volume, messages a
// user can act on, processes side by side on one data directory, full streams,
// import-diff --rollback, volume management, failed creations that leave nothing, the
// same image diffing to nothing, and one write being one atomic change.
//
// Single commands run main() in this process with captured output (fast); the cases
// about processes (pipes, locks, standard input) run the built bin/snapcopy.mjs from bash.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { StreamReader } from '../../src/checkpoint/delta-stream.js';
import { main } from '../../src/commands/cli.js';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { BIN, removeDir, tempDir } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('everyday');
const prng = new Prng(SEED);
const MIB = 1 << 20;

interface Run {
  code: number;
  stdout: string;
  /** Each call of the error writer: a failure must be exactly one, with no line break. */
  stderrCalls: string[];
}

let root = '';
let counter = 0;

beforeAll(async () => {
  root = await tempDir('snapcopy-everyday-');
});
afterAll(async () => {
  await removeDir(root);
});

/** A fresh data directory (and scratch directory) for one test. */
function fresh(): { data: string; dir: string } {
  const dir = join(root, `t${counter++}`);
  mkdirSync(dir, { recursive: true });
  return { data: join(dir, 'data'), dir };
}

async function run(data: string, ...argv: string[]): Promise<Run> {
  const stdout: string[] = [];
  const stderrCalls: string[] = [];
  const code = await main(['--data', data, '--kernels', backend, ...argv], {
    env: {},
    stdout: async (line) => void stdout.push(`${line}\n`),
    stderr: (line) => void stderrCalls.push(line),
  });
  return { code, stdout: stdout.join(''), stderrCalls };
}

/** Runs a command that must succeed; its standard output. */
async function ok(data: string, ...argv: string[]): Promise<string> {
  const result = await run(data, ...argv);
  expect(result.stderrCalls, `snapcopy ${argv.join(' ')}`).toEqual([]);
  expect(result.code, `snapcopy ${argv.join(' ')}`).toBe(0);
  return result.stdout;
}

/** Runs a command that must fail with `code`; its one stderr line (which names no figure). */
async function refused(data: string, code: string, ...argv: string[]): Promise<string> {
  const result = await run(data, ...argv);
  expect(result.code, `snapcopy ${argv.join(' ')}: ${result.stderrCalls.join(' | ')}`).toBe(code === 'ERR_USAGE' ? 2 : 1);
  expect(result.stderrCalls).toHaveLength(1);
  const line = result.stderrCalls[0]!;
  expect(line).not.toContain('\n');
  expect(line).toMatch(new RegExp(`\\[${code}\\]$`));
  expect(line).not.toMatch(/FIG/i);
  return line;
}

/** The bytes of a volume or checkpoint, via `cat --out`. */
async function image(data: string, spec: string): Promise<Buffer> {
  const out = join(data, '..', `cat-${counter++}.img`);
  await ok(data, 'cat', spec, '--out', out);
  return readFile(out);
}

async function listJson(data: string): Promise<VolumeJson[]> {
  return JSON.parse(await ok(data, 'list', '--json')) as VolumeJson[];
}

async function infoJson(data: string, fs: string): Promise<VolumeJson> {
  return JSON.parse(await ok(data, 'info', fs, '--json')) as VolumeJson;
}

interface VolumeJson {
  name: string;
  size: number;
  blocks: number;
  blockSize: number;
  granularity: number;
  usedBytes: number;
  base: string | null;
  checkpoints: { name: string; id: string; image: string }[];
}

/** Everything a refusal must leave alone: the volumes' records and the bytes of each volume. */
async function state(data: string): Promise<{ volumes: VolumeJson[]; images: Record<string, string> }> {
  const volumes = await listJson(data);
  const images: Record<string, string> = {};
  for (const v of volumes) {
    // Checkpoints are immutable: their ids and images in the list stand for their bytes.
    images[v.name] = (await image(data, v.name)).toString('base64');
  }
  // Bytes on disk may move with a folded log; the refusal's promise is about content and records.
  return { volumes: volumes.map((v) => ({ ...v, usedBytes: 0 })), images };
}

const randomBytes = (n: number): Buffer => Buffer.from(prng.fill(new Uint8Array(n)));

/** The image of a 1 MiB volume with `writes` laid on zeros. */
function expected(writes: [number, Buffer][], size = MIB): Buffer {
  const out = Buffer.alloc(size);
  for (const [at, bytes] of writes) bytes.copy(out, at);
  return out;
}

interface World {
  data: string;
  dir: string;
  a: Buffer;
  b: Buffer;
  c: Buffer;
  monday: Buffer;
  tuesday: Buffer;
}

/** vol@monday (A at 0), vol@tuesday (then B at 128 KiB), and other@monday (C at 256 KiB): both volumes have a monday. */
async function world(): Promise<World> {
  const { data, dir } = fresh();
  const [a, b, c] = [randomBytes(65536), randomBytes(65536), randomBytes(32768)];
  await writeFile(join(dir, 'a.bin'), a);
  await writeFile(join(dir, 'b.bin'), b);
  await writeFile(join(dir, 'c.bin'), c);
  await ok(data, 'create', 'vol', '--size', '1M');
  await ok(data, 'create', 'other', '--size', '1M');
  await ok(data, 'write', 'vol', join(dir, 'a.bin'));
  expect(await ok(data, 'ckpt', 'create', 'vol', 'monday')).toBe('vol@monday\n');
  await ok(data, 'write', 'vol', join(dir, 'b.bin'), '--offset', String(128 << 10));
  expect(await ok(data, 'ckpt', 'create', 'vol@tuesday')).toBe('vol@tuesday\n');
  await ok(data, 'write', 'other', join(dir, 'c.bin'), '--offset', String(256 << 10));
  expect(await ok(data, 'ckpt', 'create', 'other', 'monday')).toBe('other@monday\n');
  const monday = expected([[0, a]]);
  const tuesday = expected([[0, a], [128 << 10, b]]);
  return { data, dir, a, b, c, monday, tuesday };
}

/** Counts the data and unused records of a stream file (checking it as it goes). */
async function streamCounts(path: string): Promise<{ dataBlocks: number; records: number }> {
  const reader = new StreamReader();
  let dataBlocks = 0;
  let records = 0;
  for (const event of reader.push(await readFile(path))) {
    if (event.type === 'record') {
      records++;
      if (event.record.kind === 'data') dataBlocks += event.record.count;
    }
  }
  reader.end();
  return { dataBlocks, records };
}

describe(`names per volume (seed ${SEED})`, () => {
  test('<fs>@<name> works everywhere a checkpoint is named, with the same name on two volumes', async () => {
    const w = await world();
    const { data, dir } = w;
    expect(await image(data, 'vol@monday')).toEqual(w.monday);
    expect(await image(data, 'other@monday')).toEqual(expected([[256 << 10, w.c]]));
    // diff: the volume given, bare names; or <fs>@<name> on both sides.
    const bare = await ok(data, 'diff', 'vol', 'monday', 'tuesday');
    expect(bare).toBe('data\t16\t8\n');
    expect(await ok(data, 'diff', 'vol', 'vol@monday', 'vol@tuesday')).toBe(bare);
    // export-diff <fs>@<newer> <older> is the same stream as <fs> <older> <newer>.
    await ok(data, 'export-diff', 'vol@tuesday', 'monday', join(dir, 'inc1.bin'));
    await ok(data, 'export-diff', 'vol', 'monday', 'tuesday', join(dir, 'inc2.bin'));
    expect(await readFile(join(dir, 'inc1.bin'))).toEqual(await readFile(join(dir, 'inc2.bin')));
    expect((await streamCounts(join(dir, 'inc1.bin'))).dataBlocks).toBe(8);
    // clone and fs_copy with qualified names.
    await ok(data, 'clone', 'vol@monday', 'c');
    expect(await image(data, 'c')).toEqual(w.monday);
    await ok(data, 'fs_copy', '-start', 'vol@tuesday', 'x', '-fromfs', 'vol@monday');
    expect(await image(data, 'x')).toEqual(w.tuesday);
    // restore by <fs> <name>, then delete by <fs>@<name>: other@monday is untouched.
    await ok(data, 'ckpt', 'restore', 'vol', 'monday');
    expect(await image(data, 'vol')).toEqual(w.monday);
    await ok(data, 'ckpt', 'delete', 'vol@monday');
    expect((await infoJson(data, 'vol')).checkpoints.map((c) => c.name)).toEqual(['tuesday']);
    expect((await infoJson(data, 'other')).checkpoints.map((c) => c.name)).toEqual(['monday']);
    expect(await image(data, 'other@monday')).toEqual(expected([[256 << 10, w.c]]));
  });

  test('a bare name two volumes have is ERR_AMBIGUOUS listing both, and changes nothing; one only one volume has works', async () => {
    const w = await world();
    const { data } = w;
    const before = await state(data);
    // (cat takes <fs>[@<ckpt>]: a bare word there is a volume, as in zfs.)
    for (const argv of [['ckpt', 'delete', 'monday'], ['clone', 'monday', 'c2']]) {
      const line = await refused(data, 'ERR_AMBIGUOUS', ...argv);
      expect(line).toContain('other@monday');
      expect(line).toContain('vol@monday');
    }
    expect(await state(data)).toEqual(before);
    // tuesday is vol's only: a bare name is enough.
    await ok(data, 'clone', 'tuesday', 'c3');
    expect(await image(data, 'c3')).toEqual(w.tuesday);
    await ok(data, 'ckpt', 'delete', 'tuesday');
    expect((await infoJson(data, 'vol')).checkpoints.map((c) => c.name)).toEqual(['monday']);
  });
});

describe('messages', () => {
  test('a wrong base names what the target holds and what the stream needs, and changes nothing', async () => {
    const w = await world();
    const { data, dir } = w;
    await ok(data, 'write', 'vol', join(dir, 'c.bin'), '--offset', String(512 << 10));
    await ok(data, 'ckpt', 'create', 'vol', 'wednesday');
    await ok(data, 'export-diff', 'vol', 'monday', 'wednesday', join(dir, 'mon-wed.bin'));
    await ok(data, 'export-diff', 'vol@tuesday', join(dir, 'full-tue.bin'));
    await ok(data, 'import-diff', 'held', join(dir, 'full-tue.bin'));
    const before = await state(data);
    const line = await refused(data, 'ERR_WRONG_BASE', 'import-diff', 'held', join(dir, 'mon-wed.bin'));
    expect(line).toContain('held holds vol@tuesday; this stream applies to vol@monday');
    expect(line).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/); // names, not ids
    expect(await state(data)).toEqual(before);
  });

  test('a stream whose result the target already holds: "already at", exit 0, nothing changed', async () => {
    const w = await world();
    const { data, dir } = w;
    await ok(data, 'export-diff', 'vol@tuesday', 'monday', join(dir, 'inc.bin'));
    await ok(data, 'clone', 'vol@tuesday', 'copy');
    const before = await state(data);
    const baseBefore = (await infoJson(data, 'copy')).base;
    expect(await ok(data, 'import-diff', 'copy', join(dir, 'inc.bin'))).toContain('already at vol@tuesday');
    expect((await infoJson(data, 'copy')).base).toBe(baseBefore);
    expect(await state(data)).toEqual(before);
  });
});

describe('full streams', () => {
  test('export-diff <fs>@<ckpt> with no older writes a full stream; import-diff makes a new volume with its geometry and bytes', async () => {
    const { data, dir } = fresh();
    const bytes = randomBytes(40_000);
    await writeFile(join(dir, 'in.bin'), bytes);
    await ok(data, 'create', 'src', '--size', '2M', '--block-size', '4096', '--meta-granularity', '2');
    await ok(data, 'write', 'src', join(dir, 'in.bin'), '--offset', '12288');
    await ok(data, 'ckpt', 'create', 'src@monday');
    await ok(data, 'write', 'src', join(dir, 'in.bin')); // after monday: not in its stream
    await ok(data, 'export-diff', 'src@monday', join(dir, 'full.bin'));
    expect(await ok(data, 'import-diff', 'new', join(dir, 'full.bin'))).toContain('created new');
    const [src, made] = [await infoJson(data, 'src'), await infoJson(data, 'new')];
    expect({ size: made.size, blockSize: made.blockSize, granularity: made.granularity })
      .toEqual({ size: 2 * MIB, blockSize: 4096, granularity: 2 });
    expect(made.base).toBe(src.checkpoints[0]!.image);
    expect(await image(data, 'new')).toEqual(expected([[12288, bytes]], 2 * MIB));
  });

  test('an incremental stream into a volume that does not exist is ERR_WRONG_BASE and makes no volume', async () => {
    const w = await world();
    await ok(w.data, 'export-diff', 'vol@tuesday', 'monday', join(w.dir, 'inc.bin'));
    const before = await state(w.data);
    await refused(w.data, 'ERR_WRONG_BASE', 'import-diff', 'nothere', join(w.dir, 'inc.bin'));
    expect(await state(w.data)).toEqual(before);
  });

  test('a truncated or corrupt full stream into a new name leaves no volume, and the retry succeeds', async () => {
    const w = await world();
    const full = join(w.dir, 'full.bin');
    await ok(w.data, 'export-diff', 'vol@tuesday', full);
    const good = await readFile(full);
    const flipped = Buffer.from(good);
    flipped[Math.floor(good.length / 2)]! ^= 0x40;
    const bad: Record<string, Buffer> = { header: good.subarray(0, 100), middle: good.subarray(0, good.length >> 1), tail: good.subarray(0, good.length - 1), flipped };
    const before = await state(w.data);
    for (const [what, bytes] of Object.entries(bad)) {
      await writeFile(join(w.dir, `${what}.bin`), bytes);
      await refused(w.data, 'ERR_CORRUPT', 'import-diff', 'new', join(w.dir, `${what}.bin`));
      expect((await listJson(w.data)).map((v) => v.name), what).toEqual(['other', 'vol']);
    }
    expect(await state(w.data)).toEqual(before);
    expect(await ok(w.data, 'import-diff', 'new', full)).toContain('created new');
    expect(await image(w.data, 'new')).toEqual(w.tuesday);
  });
});

describe('import-diff --rollback', () => {
  test('a target changed since the checkpoint holding the base is restored, then the stream applied; without --rollback it is refused', async () => {
    const w = await world();
    const { data, dir } = w;
    await ok(data, 'export-diff', 'vol@monday', join(dir, 'full.bin'));
    await ok(data, 'export-diff', 'vol@tuesday', 'monday', join(dir, 'inc.bin'));
    await ok(data, 'import-diff', 'dst', join(dir, 'full.bin'));
    await ok(data, 'ckpt', 'create', 'dst@m');
    await ok(data, 'write', 'dst', join(dir, 'c.bin'), '--offset', String(700 << 10)); // changed since dst@m
    const before = await state(data);
    const line = await refused(data, 'ERR_WRONG_BASE', 'import-diff', 'dst', join(dir, 'inc.bin'));
    expect(line).toContain('--rollback');
    expect(await state(data)).toEqual(before);
    const said = await ok(data, 'import-diff', 'dst', join(dir, 'inc.bin'), '--rollback');
    expect(said).toContain('now at vol@tuesday');
    expect(said).toContain('rolling it back to');
    expect(await image(data, 'dst')).toEqual(w.tuesday);
    expect(await image(data, 'dst@m')).toEqual(w.monday);
  });
});

describe('volumes', () => {
  test('list and info, as a table and as JSON', async () => {
    const w = await world();
    expect((await ok(fresh().data, 'list')).trim()).toBe('no volumes');
    const table = await ok(w.data, 'list');
    expect(table.split('\n')[0]).toMatch(/^NAME\s+SIZE\s+BLOCK\s+G\s+USED\s+CKPTS\s+BASE/);
    expect(table).toMatch(/^vol\s+1\.0 MiB\s+8192\s+0\s+\S+ \S+\s+2\s/m);
    const vols = await listJson(w.data);
    expect(vols.map((v) => v.name)).toEqual(['other', 'vol']);
    const vol = vols[1]!;
    expect(vol).toMatchObject({ name: 'vol', size: MIB, blockSize: 8192, granularity: 0 });
    expect(vol.checkpoints.map((c) => c.name)).toEqual(['monday', 'tuesday']);
    expect(vol.base).toBe(vol.checkpoints[1]!.image);
    expect(vol.usedBytes).toBeGreaterThanOrEqual(2 * 65536);
    expect(vol.usedBytes).toBeLessThan(MIB); // sparse: costs what is written
    expect(await infoJson(w.data, 'vol')).toEqual(vol);
    const text = await ok(w.data, 'info', 'vol');
    expect(text).toMatch(/^volume:\s+vol$/m);
    expect(text).toContain('vol@monday');
    expect(text).toContain('vol@tuesday');
    await refused(w.data, 'ERR_NOT_FOUND', 'info', 'nope');
  });

  test('destroy is refused while a volume has checkpoints; -r removes it with them', async () => {
    const w = await world();
    const before = await state(w.data);
    const line = await refused(w.data, 'ERR_HAS_CHECKPOINTS', 'destroy', 'vol');
    expect(line).toContain('-r');
    expect(await state(w.data)).toEqual(before);
    await ok(w.data, 'destroy', 'vol', '-r');
    expect((await listJson(w.data)).map((v) => v.name)).toEqual(['other']);
    await refused(w.data, 'ERR_NOT_FOUND', 'cat', 'vol@monday', '--out', join(w.dir, 'x.img'));
    // A volume without checkpoints goes without -r; the name is free again.
    await ok(w.data, 'create', 'vol', '--size', '64K');
    await ok(w.data, 'destroy', 'vol');
    await ok(w.data, 'create', 'vol', '--size', '64K');
  });

  test('rename moves the checkpoints with the volume; onto an existing name is ERR_EXISTS', async () => {
    const w = await world();
    await ok(w.data, 'rename', 'vol', 'renamed');
    expect(await image(w.data, 'renamed@monday')).toEqual(w.monday);
    expect(await image(w.data, 'renamed')).toEqual(w.tuesday);
    expect((await listJson(w.data)).map((v) => v.name)).toEqual(['other', 'renamed']);
    await refused(w.data, 'ERR_NOT_FOUND', 'cat', 'vol', '--out', join(w.dir, 'x.img'));
    const before = await state(w.data);
    await refused(w.data, 'ERR_EXISTS', 'rename', 'renamed', 'other');
    expect(await state(w.data)).toEqual(before);
  });
});

describe('found in review: refusals and failures leave no target', () => {
  test('fs_copy -start <older> <new> -fromfs <newer> is ERR_NOT_YOUNGER and makes nothing', async () => {
    const w = await world();
    const before = await state(w.data);
    await refused(w.data, 'ERR_NOT_YOUNGER', 'fs_copy', '-start', 'vol@monday', 'y', '-fromfs', 'vol@tuesday');
    expect(await state(w.data)).toEqual(before);
  });

  test('a clone or fs_copy from a checkpoint that is not there leaves no target, so the retry succeeds', async () => {
    const w = await world();
    const before = await state(w.data);
    await refused(w.data, 'ERR_NOT_FOUND', 'clone', 'vol@nosuch', 'c');
    await refused(w.data, 'ERR_NOT_FOUND', 'fs_copy', '-start', 'vol@nosuch', 'f', '-fromfs', 'vol@monday');
    expect(await state(w.data)).toEqual(before);
    await ok(w.data, 'clone', 'vol@monday', 'c');
    await ok(w.data, 'fs_copy', '-start', 'vol@tuesday', 'f', '-fromfs', 'vol@monday');
    expect(await image(w.data, 'c')).toEqual(w.monday);
    expect(await image(w.data, 'f')).toEqual(w.tuesday);
  });
});

describe('the same image', () => {
  test('right after ckpt restore, diff is empty and export-diff has no data records', async () => {
    const w = await world();
    const { data, dir } = w;
    await ok(data, 'ckpt', 'restore', 'vol', 'monday');
    expect(await ok(data, 'diff', 'vol', 'monday')).toBe('');
    expect(JSON.parse(await ok(data, 'diff', 'vol', 'monday', '--json'))).toEqual([]);
    const out = join(dir, 'same.bin');
    await ok(data, 'export-diff', 'vol', 'monday', out);
    expect(await streamCounts(out)).toEqual({ dataBlocks: 0, records: 0 });
    // A volume at monday takes it as a no-op.
    await ok(data, 'clone', 'vol@monday', 'c');
    const before = await state(data);
    expect(await ok(data, 'import-diff', 'c', out)).toContain('already at vol@monday');
    expect(await state(data)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------
// Real processes: snapcopy on the PATH of a bash script (the built dist/).

let shimDir = '';

/** Runs a bash script in `cwd` with `snapcopy` (this backend, data directory ./data) on the PATH. */
function bash(script: string, cwd: string, timeoutMs = 40_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // --norc: bash reads bash.bashrc even for -c when its standard input is a socket (node's pipes are socketpairs).
    execFile('bash', ['--norc', '--noprofile', '-uo', 'pipefail', '-c', script], {
      cwd,
      env: { ...process.env, PATH: `${shimDir}:${process.env.PATH}`, SNAPCOPY_KERNELS: backend, SNAPCOPY_DATA: join(cwd, 'data') },
      timeout: timeoutMs,
      encoding: 'utf8',
    }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('processes side by side', () => {
  beforeAll(async () => {
    await ensureBuilt();
    shimDir = join(root, 'bin');
    mkdirSync(shimDir, { recursive: true });
    writeFileSync(join(shimDir, 'snapcopy'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(join(shimDir, 'snapcopy'), 0o755);
  }, 300_000);

  test('export-diff piped into import-diff in one data directory; cmp of two cats', async () => {
    const w = await world();
    await ok(w.data, 'clone', 'vol@monday', 'dst');
    const out = await bash([
      'set -e',
      'snapcopy export-diff vol monday tuesday - | snapcopy import-diff dst -',
      'cmp <(snapcopy cat vol@tuesday) <(snapcopy cat dst)',
      'echo same',
      'snapcopy export-diff vol@monday - | snapcopy import-diff fromfull -',
      'cmp <(snapcopy cat vol@monday) <(snapcopy cat fromfull)',
      'echo same',
    ].join('\n'), w.dir);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('now at vol@tuesday');
    expect(out.stdout.match(/^same$/gm)).toHaveLength(2);
    expect(await image(w.data, 'dst')).toEqual(w.tuesday);
    expect(await image(w.data, 'fromfull')).toEqual(w.monday);
  }, 60_000);

  test('a held volume: ERR_LOCKED naming the holder at once, --wait succeeds after, other volumes go ahead', async () => {
    const w = await world();
    const first = randomBytes(20_000);
    await writeFile(join(w.dir, 'first.bin'), first);
    // The holder reads its input from a fifo this script keeps open until the others have run.
    const out = await bash(String.raw`
      mkfifo in.fifo
      snapcopy write vol - --offset 4096 < in.fifo > holder.out 2>&1 &
      holder=$!
      exec 3> in.fifo
      for i in $(seq 1 200); do [ -f data/volumes/vol/LOCK ] && break; sleep 0.05; done
      echo "holder=$holder lock=$(cat data/volumes/vol/LOCK)"
      start=$(date +%s%N)
      snapcopy write vol b.bin --offset 0 2> locked.err; echo "locked rc=$? ms=$(( ($(date +%s%N) - start) / 1000000 ))"
      snapcopy write other b.bin --offset 0; echo "other rc=$?"
      # 3>&-: the waiter must not hold the fifo open too, or the holder never sees its input end.
      snapcopy write vol c.bin --offset 900000 --wait 60 > waited.out 2> waited.err 3>&- & waiter=$!
      sleep 1
      cat first.bin >&3
      exec 3>&-
      wait $holder; echo "holder rc=$?"
      wait $waiter; echo "waiter rc=$?"
      cat locked.err holder.out waited.out waited.err
    `, w.dir, 100_000);
    const holder = /holder=(\d+) lock=(\d+)/.exec(out.stdout);
    expect(holder, out.stdout + out.stderr).not.toBeNull();
    expect(holder![2]).toBe(holder![1]);
    expect(out.stdout).toMatch(/^locked rc=1 ms=\d+$/m);
    expect(Number(/locked rc=1 ms=(\d+)/.exec(out.stdout)![1])).toBeLessThan(5000); // at once, not after a wait
    const lockedLine = out.stdout.split('\n').find((l) => l.includes('[ERR_LOCKED]'));
    expect(lockedLine).toBeDefined();
    expect(lockedLine).toContain(`process ${holder![2]}`);
    expect(out.stdout).toMatch(/^other rc=0$/m);
    expect(out.stdout).toMatch(/^holder rc=0$/m);
    expect(out.stdout).toMatch(/^waiter rc=0$/m);
    expect(await image(w.data, 'vol')).toEqual(expected([[0, w.a], [128 << 10, w.b], [4096, first], [900000, w.c]]));
    expect(await image(w.data, 'other')).toEqual(expected([[0, w.b], [256 << 10, w.c]]));
  }, 120_000);

  test('one write from standard input that runs past the end changes nothing: ERR_OUT_OF_RANGE', async () => {
    const w = await world();
    const before = await state(w.data);
    // 1 MiB + 1 byte from offset 0, and 8 KiB from 4 KiB before the end: both run past it.
    const out = await bash(String.raw`
      head -c 1048577 /dev/urandom | snapcopy write vol - --offset 0; echo "rc=$?"
      head -c 8192 /dev/urandom | snapcopy write vol - --offset 1044480; echo "rc=$?"
    `, w.dir);
    expect(out.stdout).toBe('rc=1\nrc=1\n');
    const lines = out.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/^snapcopy write: .*\[ERR_OUT_OF_RANGE\]$/);
    expect(await state(w.data)).toEqual(before);
    expect(await image(w.data, 'vol')).toEqual(w.tuesday);
  }, 60_000);
});
