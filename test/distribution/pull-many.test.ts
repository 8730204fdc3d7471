// 50 pulls at once against one node process, a mix of up to date, delta and full
// (small volumes): every one ends byte for byte at the node's youngest version, in
// bounded time. The node spools each stream once and serves it from the file.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../src/commands/cli.js';
import { pull, type PullSource } from '../../src/distribution/pull.js';
import { httpTokenOf } from '../../src/rcp/auth.js';
import { DataDir } from '../../src/volume/data-dir.js';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { freePorts, NodeProcess, removeDir, tempDir, writePeers } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('pull-many');
const prng = new Prng(SEED);
const SIZE = 256 * 1024;
const CLIENTS = 50;
const SECRET = 'pull-many-secret-0123456789';

describe.runIf(backend === 'wasm')(`50 concurrent pulls (seed ${SEED})`, () => {
  let root = '';
  let peers = '';
  let source: PullSource;
  let dir: DataDir;
  const live = Buffer.alloc(SIZE);
  const images: string[] = [];

  async function onNode(...argv: string[]): Promise<string> {
    const out: string[] = [];
    const errors: string[] = [];
    const code = await main(['--peers', peers, '--node', 'n1', ...argv], { env: {}, stdout: async (l) => void out.push(l), stderr: (l) => void errors.push(l) });
    expect(errors, argv.join(' ')).toEqual([]);
    expect(code).toBe(0);
    return out.join('\n');
  }

  beforeAll(async () => {
    await ensureBuilt();
    root = await tempDir('snapcopy-pull-many-');
    const [port] = await freePorts(1) as [number];
    peers = await writePeers(root, SECRET, { n1: `127.0.0.1:${port}` });
    await NodeProcess.start({ name: 'n1', port, data: join(root, 'n1'), peers });
    await onNode('create', 'src', '--size', String(SIZE), '--block-size', '4096');
    for (const name of ['v1', 'v2', 'v3']) {
      const bytes = prng.fill(new Uint8Array(prng.int(4096, 64 * 1024)));
      const offset = prng.int(0, SIZE - bytes.length);
      const path = join(root, `w-${name}`);
      await writeFile(path, bytes);
      await onNode('write', 'src', path, '--offset', String(offset));
      live.set(bytes, offset);
      await onNode('ckpt', 'create', 'src', name);
    }
    const list = JSON.parse(await onNode('ckpt', 'list', 'src', '--json')) as { image: string }[];
    images.push(...list.map((c) => c.image));
    source = { kind: 'node', label: 'n1', address: `127.0.0.1:${port}`, volume: 'src', token: await httpTokenOf(SECRET) };
    dir = await DataDir.open(join(root, 'client'), { kernels: 'wasm' });
  }, 300_000);

  afterAll(async () => {
    await dir?.close();
    await NodeProcess.stopAll();
    await removeDir(root);
  });

  test('a mix of up to date, delta and full, all byte for byte', async () => {
    const expected = (i: number) => (['up-to-date', 'delta', 'full'] as const)[i % 3];
    let downloaded = 0;
    for (let i = 0; i < CLIENTS; i++) {
      if (expected(i) === 'up-to-date') downloaded += (await pull(dir, `c${i}`, source)).bytes;
      if (expected(i) === 'delta') downloaded += (await pull(dir, `c${i}`, source, { version: 'v1' })).bytes;
    }
    const started = Date.now();
    const outcomes = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => pull(dir, `c${i}`, source)));
    const seconds = (Date.now() - started) / 1000;
    console.log(`[pull-many] ${CLIENTS} concurrent pulls in ${seconds} s, ${outcomes.reduce((n, o) => n + o.bytes, 0)} bytes`);
    expect(seconds).toBeLessThan(120);
    for (let i = 0; i < CLIENTS; i++) {
      expect(outcomes[i]!.result, `c${i}`).toBe(expected(i));
      expect(outcomes[i]!.to).toBe(images[2]);
      const volume = await dir.volume(`c${i}`);
      expect(Buffer.from(await volume.read(0, SIZE)).equals(live), `c${i}`).toBe(true);
    }
    // The node counted every update request by its decision, and every byte it sent.
    downloaded += outcomes.reduce((n, o) => n + o.bytes, 0);
    const metrics = await (await fetch(`http://${source.kind === 'node' ? source.address : ''}/metrics`, { headers: { authorization: `Bearer ${source.token}` } })).text();
    const sample = (line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+)$`, 'm').exec(metrics)?.[1]);
    const thirds = CLIENTS / 3;
    expect(sample('snapcopy_pull_requests_total{result="up-to-date"}')).toBe(Math.ceil(thirds));
    expect(sample('snapcopy_pull_requests_total{result="delta"}')).toBe(Math.ceil(thirds));
    // Full copies: the two thirds set up beforehand, and the third with nothing.
    expect(sample('snapcopy_pull_requests_total{result="full"}')).toBe(CLIENTS);
    expect(sample('snapcopy_delta_bytes_total')).toBe(downloaded);
  }, 300_000);
});
