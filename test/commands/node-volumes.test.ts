// A node owns its data directory: local commands on it are refused (ERR_LOCKED, saying
// --node), and with --node every volume command runs on the node, data streamed over
// its HTTP API. Most commands run main() in this process against a real `snapcopy
// serve` child; standard input and standard output use the built command.
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../src/commands/cli.js';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { freePorts, NodeProcess, removeDir, runCli, tempDir, writePeers } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('node-volumes');
const prng = new Prng(SEED);
const MIB = 1 << 20;

describe.runIf(backend === 'wasm')(`volume commands with --node (seed ${SEED})`, () => {
  let root = '';
  let peers = '';
  let data = '';
  let scratch = '';
  let count = 0;

  beforeAll(async () => {
    await ensureBuilt();
    root = await tempDir('snapcopy-node-volumes-');
    const [port] = await freePorts(1) as [number];
    peers = await writePeers(root, 'node-volumes-secret', { n1: `127.0.0.1:${port}` });
    data = join(root, 'n1');
    scratch = join(root, 'scratch');
    mkdirSync(scratch);
    await NodeProcess.start({ name: 'n1', port, data, peers });
  }, 300_000);

  afterAll(async () => {
    await NodeProcess.stopAll();
    await removeDir(root);
  });

  async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string[] }> {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await main(argv, {
      env: {},
      stdout: async (line) => void stdout.push(`${line}\n`),
      stderr: (line) => void stderr.push(line),
    });
    return { code, stdout: stdout.join(''), stderr };
  }

  /** A command on the node that must succeed; its standard output. */
  async function onNode(...argv: string[]): Promise<string> {
    const result = await run(['--peers', peers, '--node', 'n1', ...argv]);
    expect(result.stderr, argv.join(' ')).toEqual([]);
    expect(result.code, argv.join(' ')).toBe(0);
    return result.stdout;
  }

  async function refusedOnNode(code: string, ...argv: string[]): Promise<string> {
    const result = await run(['--peers', peers, '--node', 'n1', ...argv]);
    expect(result.code, `${argv.join(' ')}: ${result.stderr.join(' | ')}`).toBe(1);
    expect(result.stderr).toHaveLength(1);
    expect(result.stderr[0]).toMatch(new RegExp(`\\[${code}\\]$`));
    return result.stderr[0]!;
  }

  /** The bytes of a volume or checkpoint, cat'ed through the node to a file. */
  async function image(spec: string): Promise<Buffer> {
    const out = join(scratch, `cat-${count++}.img`);
    await onNode('cat', spec, '--out', out);
    return readFile(out);
  }

  async function file(bytes: Uint8Array): Promise<string> {
    const path = join(scratch, `in-${count++}.bin`);
    await writeFile(path, bytes);
    return path;
  }

  const expected = (writes: [number, Uint8Array][], size = MIB): Buffer => {
    const out = Buffer.alloc(size);
    for (const [at, bytes] of writes) out.set(bytes, at);
    return out;
  };

  test('local commands on the node\'s data directory are refused, saying --node', async () => {
    for (const argv of [['list'], ['create', 'v', '--size', '1M']]) {
      const result = await run(['--data', data, '--kernels', backend, ...argv]);
      expect(result.code).toBe(1);
      expect(result.stderr).toHaveLength(1);
      expect(result.stderr[0]).toMatch(/--node.*\[ERR_LOCKED\]$/);
    }
  });

  test('every volume command runs on the node, byte for byte', async () => {
    const a = prng.fill(new Uint8Array(50_000));
    const b = prng.fill(new Uint8Array(30_000));
    const s = prng.fill(new Uint8Array(20_000));
    await onNode('create', 'vol', '--size', '1M');
    await onNode('write', 'vol', await file(a), '--offset', '1000');
    // Standard input, and cat to standard output, through the built command.
    const viaStdin = await runCli(['--peers', peers, '--node', 'n1', 'write', 'vol', '-', '--offset', '500000'], { input: s, timeoutMs: 60_000 });
    expect(viaStdin.stderr).toBe('');
    expect(viaStdin.code).toBe(0);
    const monday = expected([[1000, a], [500000, s]]);
    expect(await image('vol')).toEqual(monday);
    expect(await onNode('ckpt', 'create', 'vol', 'monday')).toBe('vol@monday\n');
    await onNode('write', 'vol', await file(b), '--offset', '200000');
    await onNode('discard', 'vol', '--offset', '491520', '--length', '16384');
    const tuesday = expected([[1000, a], [200000, b], [500000, s]]);
    tuesday.fill(0, 491520, 491520 + 16384);
    expect(await image('vol')).toEqual(tuesday);
    expect(await onNode('ckpt', 'create', 'vol@tuesday')).toBe('vol@tuesday\n');
    expect(await onNode('ckpt', 'list', 'vol')).toMatch(/^vol@monday\t.*\nvol@tuesday\t/);
    expect(await image('vol@monday')).toEqual(monday);
    expect(await onNode('diff', 'vol', 'monday', 'tuesday')).not.toBe('');

    // Streams: full and incremental, out of the node to files and back in.
    const full = join(scratch, 'full.bin');
    const inc = join(scratch, 'inc.bin');
    await onNode('export-diff', 'vol@monday', full);
    await onNode('export-diff', 'vol', 'monday', 'tuesday', inc);
    expect(await onNode('import-diff', 'copy', full)).toContain('created copy');
    expect(await image('copy')).toEqual(monday);
    expect(await onNode('import-diff', 'copy', inc)).toContain('now at vol@tuesday');
    expect(await image('copy')).toEqual(tuesday);
    expect(await onNode('import-diff', 'copy', inc)).toContain('already at vol@tuesday');
    // --rollback: a clone of monday, checkpointed, then changed.
    await onNode('clone', 'vol@monday', 'rb');
    await onNode('ckpt', 'create', 'rb@m');
    await onNode('write', 'rb', await file(b), '--offset', '0');
    await refusedOnNode('ERR_WRONG_BASE', 'import-diff', 'rb', inc);
    expect(await onNode('import-diff', 'rb', inc, '--rollback')).toContain('now at vol@tuesday');
    expect(await image('rb')).toEqual(tuesday);
    await onNode('fs_copy', '-start', 'vol@tuesday', 'fc', '-fromfs', 'vol@monday');
    expect(await image('fc')).toEqual(tuesday);

    const cat = await runCli(['--peers', peers, '--node', 'n1', 'cat', 'vol@tuesday'], { timeoutMs: 60_000 });
    expect(cat.code).toBe(0);
    expect(cat.stdoutBytes.equals(tuesday)).toBe(true);

    // Restore, delete, volume management.
    await onNode('ckpt', 'restore', 'vol', 'monday');
    expect(await image('vol')).toEqual(monday);
    await onNode('ckpt', 'delete', 'vol@tuesday');
    const vols = JSON.parse(await onNode('list', '--json')) as { name: string }[];
    expect(vols.map((v) => v.name)).toEqual(['copy', 'fc', 'rb', 'vol']);
    expect(JSON.parse(await onNode('info', 'vol', '--json'))).toMatchObject({ name: 'vol', size: MIB, blockSize: 8192 });
    await onNode('rename', 'copy', 'moved');
    expect(await image('moved')).toEqual(tuesday);
    await onNode('resize', 'moved', '--size', '2M');
    expect(await image('moved')).toEqual(expected([[0, tuesday]], 2 * MIB));
    await refusedOnNode('ERR_HAS_CHECKPOINTS', 'destroy', 'vol');
    await onNode('destroy', 'vol', '-r');
    await onNode('destroy', 'moved');
    expect((JSON.parse(await onNode('list', '--json')) as { name: string }[]).map((v) => v.name)).toEqual(['fc', 'rb']);
  }, 240_000);
});
