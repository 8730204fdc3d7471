// publish with --node: the streams are read through the node's volume API and the files
// written locally; each file is the same bytes as export-diff of the same versions.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../src/commands/cli.js';
import type { VersionsIndex } from '../../src/distribution/index-format.js';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { freePorts, NodeProcess, removeDir, tempDir, writePeers } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('publish-node');

describe.runIf(backend === 'wasm')(`publish --node (seed ${SEED})`, () => {
  let root = '';
  let peers = '';

  beforeAll(async () => {
    await ensureBuilt();
    root = await tempDir('snapcopy-publish-node-');
    const [port] = await freePorts(1) as [number];
    peers = await writePeers(root, 'publish-node-secret', { n1: `127.0.0.1:${port}` });
    await NodeProcess.start({ name: 'n1', port, data: join(root, 'n1'), peers });
  }, 300_000);

  afterAll(async () => {
    await NodeProcess.stopAll();
    await removeDir(root);
  });

  async function onNode(...argv: string[]): Promise<string> {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await main(['--peers', peers, '--node', 'n1', ...argv], {
      env: {}, stdout: async (line) => void stdout.push(line), stderr: (line) => void stderr.push(line),
    });
    expect(stderr, argv.join(' ')).toEqual([]);
    expect(code, argv.join(' ')).toBe(0);
    return stdout.join('\n');
  }

  test('writes the index, the full stream and the delta, each the bytes export-diff gives', async () => {
    const prng = new Prng(SEED);
    const input = join(root, 'input.bin');
    await onNode('create', 'v', '--size', '1M', '--block-size', '4096');
    for (const name of ['a', 'b']) {
      await writeFile(input, prng.fill(new Uint8Array(prng.int(1, 40) * 4096)));
      await onNode('write', 'v', input, '--offset', String(prng.int(0, 100) * 4096));
      await onNode('ckpt', 'create', `v@${name}`);
    }
    const dir = join(root, 'site');
    const result = JSON.parse(await onNode('publish', 'v', dir, '--keep', '1', '--json')) as { written: string[]; versions: number };
    expect(result.versions).toBe(2);
    expect(result.written).toHaveLength(2);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as VersionsIndex;
    expect(index.versions.map((v) => v.name)).toEqual(['a', 'b']);
    await onNode('export-diff', 'v@b', join(root, 'full.snap'));
    await onNode('export-diff', 'v', 'a', 'b', join(root, 'delta.snap'));
    expect((await readFile(join(dir, index.full[0]!.path))).equals(await readFile(join(root, 'full.snap')))).toBe(true);
    expect((await readFile(join(dir, index.deltas![0]!.path))).equals(await readFile(join(root, 'delta.snap')))).toBe(true);
  });
});
