// The command line's edges: help and version, every failure as one line with its code
// (usage errors included), a port in use, the progress bar, binary streams refused on a
// terminal, sparse `cat --out` files, and what a command says it wrote.
//
// Most cases run main() in this process with captured output; the ones about a real
// process (a terminal, a port held by another) run the built bin/snapcopy.mjs.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../src/commands/cli.js';
import { Progress, writeAll } from '../../src/commands/io.js';
import { SnapcopyError } from '../../src/errors.js';
import { readPeers } from '../../src/node/peers.js';
import { NodeServer } from '../../src/node/server.js';
import { backend } from '../helpers/backend.js';
import { BIN, ROOT, removeDir, runCli, tempDir, writePeers } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Run {
  code: number;
  stdout: string;
  /** Each call of the error writer: a failure must be exactly one, with no line break. */
  stderrCalls: string[];
}

async function run(...argv: string[]): Promise<Run> {
  const stdout: string[] = [];
  const stderrCalls: string[] = [];
  const code = await main(argv, {
    env: { SNAPCOPY_KERNELS: backend },
    stdout: async (line) => void stdout.push(`${line}\n`),
    stderr: (line) => void stderrCalls.push(line),
  });
  return { code, stdout: stdout.join(''), stderrCalls };
}

/** The one line a failure printed. */
function failureLine(result: Run): string {
  expect(result.stderrCalls).toHaveLength(1);
  expect(result.stderrCalls[0]).not.toContain('\n');
  return result.stderrCalls[0]!;
}

let root = '';
beforeAll(async () => {
  root = await tempDir('snapcopy-cli-edges-');
});
afterAll(async () => {
  await removeDir(root);
});

describe('help and version', () => {
  test('help, -h and --help print the commands to standard output and exit 0', async () => {
    const help = await run('help');
    expect(help.code).toBe(0);
    expect(help.stderrCalls).toEqual([]);
    for (const name of ['create', 'cat', 'export-diff', 'serve', 'fs_copy', 'rcptest']) expect(help.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(await run('-h')).toEqual(help);
    expect(await run('--help')).toEqual(help);
  });

  test('help <command>, <command> -h and <command> --help print its usage and exit 0', async () => {
    const help = await run('help', 'cat');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: snapcopy cat <fs>/);
    expect(help.stdout).toContain('--data <dir>');
    expect(await run('cat', '-h')).toEqual(help);
    expect(await run('cat', '--help')).toEqual(help);
    expect(await run('--data', join(root, 'never'), 'cat', 'vol', '--help')).toEqual(help);
    expect(existsSync(join(root, 'never'))).toBe(false);
    // The seed's spelling with a leading dot names the same command.
    expect((await run('help', '.server_config')).stdout).toMatch(/^usage: snapcopy .*server_config <node>/);
  });

  test('--version prints the package version, from the sources and from the built command', async () => {
    expect(await run('--version')).toEqual({ code: 0, stdout: `snapcopy ${VERSION}\n`, stderrCalls: [] });
    const built = await runCli(['--version'], { cwd: root });
    expect({ code: built.code, stdout: built.stdout, stderr: built.stderr }).toEqual({ code: 0, stdout: `snapcopy ${VERSION}\n`, stderr: '' });
  });
});

describe('usage errors: one line with ERR_USAGE, exit 2, nothing changed', () => {
  test('an unknown command, no command, and help for an unknown command', async () => {
    const unknown = await run('frobnicate', 'vol');
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(failureLine(unknown)).toBe('snapcopy: unknown command frobnicate (snapcopy help lists the commands) [ERR_USAGE]');
    const typos: [string, string][] = [['fs-copy', 'fs_copy'], ['ckpts', 'ckpt'], ['Create', 'create'], ['exportdiff', 'export-diff']];
    for (const [typed, meant] of typos) {
      expect(failureLine(await run(typed))).toBe(`snapcopy: unknown command ${typed} (did you mean ${meant}?) (snapcopy help lists the commands) [ERR_USAGE]`);
    }
    const none = await run('--data', join(root, 'never'));
    expect(none.code).toBe(2);
    expect(failureLine(none)).toMatch(/^snapcopy: no command given .*\[ERR_USAGE\]$/);
    const helpUnknown = await run('help', 'frobnicate');
    expect(helpUnknown.code).toBe(2);
    expect(failureLine(helpUnknown)).toMatch(/^snapcopy help: unknown command frobnicate .*\[ERR_USAGE\]$/);
  });

  test('a command used wrongly names itself, the problem, where help is, and the code', async () => {
    const data = join(root, 'usage-data');
    const cases: [string[], string][] = [
      [['cat'], 'snapcopy cat: missing <fs>[@<ckpt>] (snapcopy help cat) [ERR_USAGE]'],
      [['create', 'vol'], 'snapcopy create: missing --size (snapcopy help create) [ERR_USAGE]'],
      [['cat', 'vol', '--bogus'], 'snapcopy cat: unknown option --bogus (snapcopy help cat) [ERR_USAGE]'],
      [['cat', 'vol', '--out'], 'snapcopy cat: option --out needs a value (snapcopy help cat) [ERR_USAGE]'],
      [['cat', 'vol', '--help=yes'], 'snapcopy cat: option --help takes no value (snapcopy help cat) [ERR_USAGE]'],
      [['serve', '--name', 'n1'], 'snapcopy serve: missing --peers <file> (the nodes and their shared secret) (snapcopy help serve) [ERR_USAGE]'],
    ];
    for (const [argv, line] of cases) {
      const result = await run('--data', data, ...argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stdout, argv.join(' ')).toBe('');
      expect(failureLine(result), argv.join(' ')).toBe(line);
    }
    expect(existsSync(data)).toBe(false);
  });

  test('other failures are one line with their code and exit 1, even a message of several lines', async () => {
    const data = join(root, 'failure-data');
    expect((await run('--data', data, 'create', 'vol', '--size', '1M')).code).toBe(0);
    const missing = await run('--data', data, 'cat', 'nosuch');
    expect(missing.code).toBe(1);
    expect(failureLine(missing)).toMatch(/^snapcopy cat: .*nosuch.* \[ERR_NOT_FOUND\]$/);
    const badSize = await run('--data', data, 'create', 'v2', '--size', 'lots');
    expect(badSize.code).toBe(1);
    expect(failureLine(badSize)).toMatch(/^snapcopy create: --size "lots" is not a size .* \[ERR_INVALID_ARGUMENT\]$/);
  });
});

describe('serve on a port that is in use', () => {
  let holder: Server;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => holder.close(() => resolve())));

  test('says ERR_ADDRESS_IN_USE in one line, exits 1 and leaves the data directory free', async () => {
    const port = (holder.address() as { port: number }).port;
    const dir = join(root, 'serve');
    const peers = await writePeers(root, 'cli-edges-test-secret-0123', { n1: `127.0.0.1:${port}` });
    const result = await runCli(['--data', dir, '--peers', peers, 'serve', '--name', 'n1'], { timeoutMs: 20_000 });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`snapcopy serve: cannot listen on 127.0.0.1:${port}: the address is in use (another node or program has the port; pick another with --listen) [ERR_ADDRESS_IN_USE]\n`);
    // The failed start released its lock: a node on a free port starts on the same directory.
    const node = await NodeServer.start({ name: 'n1', listen: '127.0.0.1:0', dataDir: dir, peers: await readPeers(peers) });
    await node.close();
  });
});

/** A terminal stand-in: what was written, and a clock the test moves. */
function fakeTerminal(isTTY = true) {
  const writes: string[] = [];
  let now = 1_000_000;
  const stream = { isTTY, write: (text: string) => void writes.push(text) };
  return { writes, stream, advance: (ms: number) => void (now += ms), options: { stream, env: {}, now: () => now } };
}

describe('progress bar', () => {
  const MiB = 2 ** 20;
  const lastWrite = (writes: string[]) => writes[writes.length - 1]!;

  test('no rate and no ETA until a second has passed with bytes done; then both', () => {
    const t = fakeTerminal();
    const progress = new Progress('cat', 100 * MiB, t.options);
    t.advance(500);
    progress.add(10 * MiB);
    expect(lastWrite(t.writes)).toBe('\r\x1b[Kcat [##                      ] 10% 10.0 MiB of 100.0 MiB');
    t.advance(500);
    progress.add(10 * MiB);
    // 20 MiB in 1 s: 20 MiB/s, 80 MiB to go.
    expect(lastWrite(t.writes)).toBe('\r\x1b[Kcat [#####                   ] 20% 20.0 MiB of 100.0 MiB 20.0 MiB/s ETA 4s');
    t.advance(1000);
    progress.add(0);
    expect(lastWrite(t.writes)).toMatch(/ 10\.0 MiB\/s ETA 8s$/);
  });

  test('a second without bytes shows no rate; an unknown total shows bytes and rate without ETA', () => {
    const t = fakeTerminal();
    const idle = new Progress('export', 4 * MiB, t.options);
    t.advance(1500);
    idle.add(0);
    expect(lastWrite(t.writes)).not.toMatch(/\/s|ETA/);
    const open = new Progress('write', undefined, t.options);
    t.advance(2000);
    open.add(3 * MiB);
    expect(lastWrite(t.writes)).toBe('\r\x1b[Kwrite 3.0 MiB 1.5 MiB/s');
  });

  test('when done, the bar line is cleared and one final line says bytes, time and rate', () => {
    const t = fakeTerminal();
    const progress = new Progress('cat', 8 * MiB, t.options);
    t.advance(400);
    progress.add(4 * MiB);
    t.advance(1600);
    progress.add(4 * MiB);
    const drawn = t.writes.length;
    progress.finish();
    expect(t.writes.slice(drawn)).toEqual(['\r\x1b[Kcat: 8.0 MiB in 2.00 s (4.0 MiB/s)\n']);
    progress.finish();
    expect(t.writes).toHaveLength(drawn + 1);
  });

  test('silent when standard error is not a terminal, when CI is set, and for work shorter than a blink', () => {
    const pipe = fakeTerminal(false);
    const ci = fakeTerminal();
    const quick = fakeTerminal();
    const bars = [
      new Progress('cat', MiB, pipe.options),
      new Progress('cat', MiB, { ...ci.options, env: { CI: 'true' } }),
      new Progress('cat', MiB, quick.options),
    ];
    for (const t of [pipe, ci]) t.advance(2000);
    quick.advance(100);
    for (const bar of bars) {
      bar.add(MiB);
      bar.finish();
    }
    expect([pipe.writes, ci.writes, quick.writes]).toEqual([[], [], []]);
  });
});

async function* piecesOf(...pieces: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* pieces;
}

describe('writeAll: binary streams, files and what was written', () => {
  test('refuses a terminal on standard output with ERR_TERMINAL before reading or writing anything', async () => {
    const written: Uint8Array[] = [];
    let started = false;
    const pieces = (async function* () {
      started = true;
      yield new Uint8Array(10);
    })();
    const tty = { isTTY: true, write: (bytes: Uint8Array, done: () => void) => void (written.push(bytes), done()) };
    const failure = await writeAll(undefined, 'cat', 10, pieces, { stdout: tty }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SnapcopyError);
    expect((failure as SnapcopyError).code).toBe('ERR_TERMINAL');
    expect((failure as Error).message).not.toContain('\n');
    expect(await writeAll('-', 'cat', 10, piecesOf(), { stdout: tty }).catch((error: SnapcopyError) => error.code)).toBe('ERR_TERMINAL');
    expect({ written, started }).toEqual({ written: [], started: false });
  });

  test('to standard output that is not a terminal: the bytes, and no summary to print', async () => {
    const written: Uint8Array[] = [];
    const pipe = { isTTY: false, write: (bytes: Uint8Array, done: () => void) => void (written.push(bytes), done()) };
    const result = await writeAll(undefined, 'cat', 6, piecesOf(Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6)), { stdout: pipe });
    expect(Buffer.concat(written)).toEqual(Buffer.from([1, 2, 3, 4, 5, 6]));
    expect(result).toMatchObject({ bytes: 6, path: undefined, summary: undefined });
  });

  test('to a file: the bytes, sparse or not, and a summary with bytes, path, time and rate', async () => {
    const seed = testSeed('cli-edges writeAll');
    const prng = new Prng(seed);
    // Zero pages at the start, the middle, across a piece's edge and at the end, and a short tail.
    const image = new Uint8Array(16 * 4096 + 100);
    prng.fill(image.subarray(4096, 3 * 4096 + 17));
    prng.fill(image.subarray(9 * 4096, 10 * 4096));
    image[11 * 4096 + 4095] = 1;
    const cuts = [0, 5000, 5000, 40_000, 40_000 + prng.int(1, 4096), image.length];
    const pieces = () => piecesOf(...cuts.slice(1).map((end, i) => image.subarray(cuts[i], end)));
    for (const sparse of [true, false]) {
      const path = join(root, `write-all-${sparse}.img`);
      const result = await writeAll(path, 'cat', image.length, pieces(), { sparse });
      expect(new Uint8Array(await readFile(path)), `seed ${seed} sparse ${sparse}`).toEqual(image);
      expect(result.bytes).toBe(image.length);
      expect(result.summary).toMatch(new RegExp(`^wrote ${image.length} bytes to ${path} in \\d+\\.\\d\\d s \\(\\d+\\.\\d [KMG]?i?B/s\\)$`));
    }
  });

  test('a stream that fails part-way leaves no file and no partial file behind', async () => {
    const dir = join(root, 'failing');
    await mkdir(dir);
    const failing = (async function* () {
      yield new Uint8Array(8192).fill(7);
      throw new Error('the source broke');
    })();
    await expect(writeAll(join(dir, 'out.img'), 'cat', 16384, failing)).rejects.toThrow('the source broke');
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('an output that cannot be written is refused before the work', () => {
  test('a directory, or a file in a directory that does not exist', async () => {
    let read = false;
    const pieces = (async function* () {
      read = true;
      yield new Uint8Array(1);
    })();
    const failure = await writeAll(root, 'cat', 1, pieces).then(() => undefined, (error: SnapcopyError) => error);
    expect([failure?.code, failure?.message]).toEqual(['ERR_INVALID_ARGUMENT', `${root} is a directory; name a file to write`]);
    const missing = join(root, 'no-such-dir', 'out.img');
    await expect(writeAll(missing, 'cat', 1, pieces)).rejects.toMatchObject({ code: 'ENOENT', path: join(root, 'no-such-dir') });
    expect({ read, made: existsSync(join(root, 'no-such-dir')) }).toEqual({ read: false, made: false });
  });
});

describe('cat --out', () => {
  test('a 64 MiB volume holding 100 KB cats to a sparse file under 1 MiB on disk with the same bytes, and says what it wrote', async () => {
    const seed = testSeed('cli-edges cat --out');
    const prng = new Prng(seed);
    const data = join(root, 'cat-data');
    const size = 64 * 2 ** 20;
    const image = new Uint8Array(size);
    expect((await run('--data', data, 'create', 'vol', '--size', '64M')).code).toBe(0);
    // 100 KB in five writes at random places.
    for (let i = 0; i < 5; i++) {
      const chunk = prng.fill(new Uint8Array(20_000));
      const offset = prng.int(0, size - chunk.length);
      image.set(chunk, offset);
      const input = join(root, `chunk-${i}`);
      await writeFile(input, chunk);
      expect((await run('--data', data, 'write', 'vol', input, '--offset', String(offset))).code, `seed ${seed}`).toBe(0);
    }
    const out = join(root, 'vol.img');
    const result = await run('--data', data, 'cat', 'vol', '--out', out);
    expect(result.code, `seed ${seed}`).toBe(0);
    expect(statSync(out).size).toBe(size);
    expect(statSync(out).blocks * 512, `seed ${seed}`).toBeLessThan(2 ** 20);
    expect(Buffer.compare(await readFile(out), image), `seed ${seed}`).toBe(0);
    expect(existsSync(`${out}.partial`)).toBe(false);
    expect([...result.stderrCalls, result.stdout].join('\n')).toMatch(new RegExp(`wrote ${size} bytes to ${out} in \\d+\\.\\d\\d s`));
  });
});

/** Runs the built command on a pseudo-terminal (util-linux script): what the terminal showed, and the exit code. */
function onTerminal(args: string[]): Promise<{ code: number; screen: string }> {
  const command = [process.execPath, BIN, ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    execFile('script', ['-qec', command, '/dev/null'], { timeout: 30_000, env: { ...process.env, SNAPCOPY_KERNELS: backend } }, (error, stdout) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: typeof error?.code === 'number' ? error.code : 0, screen: stdout });
    });
  });
}

describe('binary streams are never written to a terminal', () => {
  test('cat and export-diff to a terminal refuse with ERR_TERMINAL, one line, nothing written', async () => {
    const data = join(root, 'tty-data');
    const marker = Buffer.from('MARKER-'.repeat(1000));
    const input = join(root, 'marker');
    await writeFile(input, marker);
    for (const argv of [['create', 'vol', '--size', '1M'], ['ckpt', 'create', 'vol', 'a'], ['write', 'vol', input], ['ckpt', 'create', 'vol', 'b']]) {
      const result = await runCli(['--data', data, ...argv]);
      expect(result.code, `${argv.join(' ')}: ${result.stderr}`).toBe(0);
    }
    for (const argv of [['cat', 'vol'], ['cat', 'vol@b'], ['export-diff', 'vol', 'a', 'b'], ['export-diff', 'vol', 'a', 'b', '-']]) {
      const { code, screen } = await onTerminal(['--data', data, ...argv]);
      expect(code, argv.join(' ')).toBe(1);
      expect(screen, argv.join(' ')).toMatch(/^snapcopy (cat|export-diff): standard output is a terminal; [^\n]* \[ERR_TERMINAL\]\r?\n$/);
      expect(screen).not.toContain('MARKER');
    }
    // Redirected, the same command writes the stream.
    expect((await runCli(['--data', data, 'cat', 'vol@b', '--length', '7'])).stdout).toBe('MARKER-');
  });
});
