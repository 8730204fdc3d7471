// pull against a real node process, every branch of the decision (FIG. 37/38): a full
// copy into an absent volume, up to date, one delta, --tmin not yet elapsed, a version
// asked for (and one older than held refused), a full copy because the version held was
// deleted on the node (too old) or is foreign, a download cut at seeded random points
// and resumed, a corrupt download refused with the local volume unchanged; read-only
// tokens (pull yes, anything else 403, no token 401); and a checkpoint whose stream is
// being produced cannot be deleted under it.
import { mkdirSync, readdirSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../src/commands/cli.js';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { freePorts, NodeProcess, removeDir, tempDir, writePeers } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { CutProxy } from './cut-proxy.js';

const SEED = testSeed('pull-e2e');
const prng = new Prng(SEED);
const SIZE = 1 << 20;

interface PullJson { result: string; from: string | null; to: string | null; bytes: number; seconds: number }

describe.runIf(backend === 'wasm')(`pull from a node (seed ${SEED})`, () => {
  let root = '';
  let peers = '';
  let nodeData = '';
  let client = '';
  let scratch = '';
  let address = '';
  let count = 0;
  /** The node's volume `src` as written, and its image at each checkpoint. */
  const live = Buffer.alloc(SIZE);
  const at: Record<string, Buffer> = {};

  beforeAll(async () => {
    await ensureBuilt();
    root = await tempDir('snapcopy-pull-e2e-');
    const [port] = await freePorts(1) as [number];
    address = `127.0.0.1:${port}`;
    peers = await writePeers(root, 'pull-e2e-secret-0123456789', { n1: address });
    nodeData = join(root, 'n1');
    client = join(root, 'client');
    scratch = join(root, 'scratch');
    mkdirSync(scratch);
    await NodeProcess.start({ name: 'n1', port, data: nodeData, peers });
    await onNode('create', 'src', '--size', '1M', '--block-size', '4096');
  }, 300_000);

  afterAll(async () => {
    await NodeProcess.stopAll();
    await removeDir(root);
  });

  async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string[] }> {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await main(argv, { env: {}, stdout: async (line) => void stdout.push(`${line}\n`), stderr: (line) => void stderr.push(line) });
    return { code, stdout: stdout.join(''), stderr };
  }

  async function ok(argv: string[]): Promise<string> {
    const result = await run(argv);
    expect(result.stderr, argv.join(' ')).toEqual([]);
    expect(result.code, argv.join(' ')).toBe(0);
    return result.stdout;
  }

  async function refused(code: string, argv: string[]): Promise<string> {
    const result = await run(argv);
    expect(result.code, `${argv.join(' ')}: ${result.stderr.join(' | ')}`).toBe(1);
    expect(result.stderr).toHaveLength(1);
    expect(result.stderr[0]).toMatch(new RegExp(`\\[${code}\\]$`));
    return result.stderr[0]!;
  }

  const onNode = (...argv: string[]) => ok(['--peers', peers, '--node', 'n1', ...argv]);
  const local = (...argv: string[]) => ok(['--data', client, '--kernels', backend, ...argv]);

  async function pull(fs: string, ...more: string[]): Promise<PullJson> {
    return JSON.parse(await local('--peers', peers, 'pull', fs, 'n1:src', '--json', ...more)) as PullJson;
  }

  /** Writes seeded random extents to src on the node, then checkpoints it as `name`. */
  async function version(name: string, extents = 4): Promise<void> {
    for (let i = 0; i < extents; i++) {
      const bytes = prng.fill(new Uint8Array(prng.int(1, 40_000)));
      const offset = prng.int(0, SIZE - bytes.length);
      const path = join(scratch, `w-${count++}`);
      await writeFile(path, bytes);
      await onNode('write', 'src', path, '--offset', String(offset));
      live.set(bytes, offset);
    }
    await onNode('ckpt', 'create', 'src', name);
    at[name] = Buffer.from(live);
  }

  async function localImage(spec: string): Promise<Buffer> {
    const out = join(scratch, `cat-${count++}`);
    await local('cat', spec, '--out', out);
    return readFile(out);
  }

  async function imageOf(name: string): Promise<string> {
    const list = JSON.parse(await onNode('ckpt', 'list', 'src', '--json')) as { name: string; image: string }[];
    return list.find((c) => c.name === name)!.image;
  }

  test('full into an absent volume, then up to date, then one delta; --tmin; a version asked for', async () => {
    await version('v1');
    const first = await pull('mirror');
    expect(first).toMatchObject({ result: 'full', from: null, to: await imageOf('v1') });
    expect(first.bytes).toBeGreaterThan(0);
    expect(await localImage('mirror')).toEqual(at.v1);
    // The version held is a checkpoint of the local volume, named as on the node.
    expect(await localImage('mirror@v1')).toEqual(at.v1);

    expect(await pull('mirror')).toMatchObject({ result: 'up-to-date', bytes: 0, to: await imageOf('v1') });

    await version('v2');
    const delta = await pull('mirror');
    expect(delta).toMatchObject({ result: 'delta', from: await imageOf('v1'), to: await imageOf('v2') });
    // Smaller than a full copy of the same version (not of v1: v2's seeded extents may be the larger).
    expect(delta.bytes).toBeLessThan((await pull('mirror-full', '--version', 'v2')).bytes);
    expect(await localImage('mirror')).toEqual(at.v2);

    // --tmin: the last update was just now, so the node is not asked (a new version waits).
    await version('v3');
    expect(await pull('mirror', '--tmin', '3600')).toMatchObject({ result: 'skipped', to: await imageOf('v2'), bytes: 0 });
    expect(await localImage('mirror')).toEqual(at.v2);
    expect(await pull('mirror', '--tmin', '0')).toMatchObject({ result: 'delta', to: await imageOf('v3') });
    const human = await local('--peers', peers, 'pull', 'mirror', 'n1:src', '--tmin', '3600');
    expect(human).toMatch(/^mirror: not asking n1:src yet/);

    // A version asked for: by name, full then a delta to the youngest; an older one is refused.
    expect(await pull('old', '--version', 'v1')).toMatchObject({ result: 'full', to: await imageOf('v1') });
    expect(await pull('old', '--version', 'v2')).toMatchObject({ result: 'delta', from: await imageOf('v1'), to: await imageOf('v2') });
    expect(await localImage('old')).toEqual(at.v2);
    const message = await refused('ERR_NOT_YOUNGER', ['--data', client, '--peers', peers, 'pull', 'old', 'n1:src', '--version', 'v1']);
    expect(message).toMatch(/does not go back/);
    expect(await localImage('old')).toEqual(at.v2);
  }, 240_000);

  test('full because the version held was deleted on the node, or is foreign', async () => {
    expect(await pull('stale', '--version', 'v2')).toMatchObject({ result: 'full' });
    await version('v4');
    await onNode('ckpt', 'delete', 'src@v1');
    await onNode('ckpt', 'delete', 'src@v2');
    const again = await pull('stale');
    expect(again).toMatchObject({ result: 'full', to: await imageOf('v4') });
    expect(again.from).not.toBeNull();
    expect(await localImage('stale')).toEqual(at.v4);

    // A local volume of the same shape with an image the node never had.
    await local('create', 'foreign', '--size', '1M', '--block-size', '4096');
    const mine = join(scratch, 'mine');
    await writeFile(mine, prng.fill(new Uint8Array(10_000)));
    await local('write', 'foreign', mine);
    await local('ckpt', 'create', 'foreign@mine');
    const replaced = await pull('foreign');
    expect(replaced.result).toBe('full');
    expect(replaced.from).not.toBeNull();
    expect(await localImage('foreign')).toEqual(at.v4);
    expect(await local('list')).not.toMatch(/pull-(new|old)/);
  }, 240_000);

  test('a download cut at seeded random points resumes, byte for byte', async () => {
    const proxy = await CutProxy.start(Number(address.split(':')[1]));
    try {
      const token = JSON.parse(await onNode('token', 'create', '--read-only', 'src', '--json')) as { token: string };
      for (const fs of ['cut-full', 'cut-delta']) {
        if (fs === 'cut-delta') {
          await ok(['--data', client, '--token', token.token, 'pull', fs, `${proxy.address}:src`, '--version', 'v3', '--json']);
          await version(`v-${fs}`);
        }
        const cuts = Array.from({ length: 3 }, () => prng.int(0, 2000));
        proxy.cuts.push(...cuts);
        const before = proxy.cutCount;
        const result = JSON.parse(await ok(['--data', client, '--token', token.token, 'pull', fs, `${proxy.address}:src`, '--json'])) as PullJson;
        expect(result.result, `cuts ${cuts}`).toBe(fs === 'cut-full' ? 'full' : 'delta');
        expect(proxy.cutCount - before, `cuts ${cuts}`).toBe(3);
        expect(await localImage(fs)).toEqual(Buffer.from(live));
      }
    } finally {
      await proxy.close();
    }
  }, 240_000);

  test('a corrupt download is refused (ERR_CORRUPT) and the local volume is unchanged', async () => {
    await pull('good');
    await pull('victim');
    await version('v5', 8);
    expect(await pull('good')).toMatchObject({ result: 'delta' });
    // The node spooled that delta; flip one byte in its middle, as a bad disk or proxy would.
    const cache = join(nodeData, 'node', 'versions-cache');
    const v5 = await imageOf('v5');
    const spooled = readdirSync(cache).filter((f) => f.includes('.delta-') && f.endsWith(`${v5}.snap`));
    expect(spooled).toHaveLength(1);
    const file = await open(join(cache, spooled[0]!), 'r+');
    const { size } = await file.stat();
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, Math.floor(size / 2));
    byte[0] ^= 0x5a;
    await file.write(byte, 0, 1, Math.floor(size / 2));
    await file.close();
    const checkpoints = await local('ckpt', 'list', 'victim');
    const before = await localImage('victim');
    await refused('ERR_CORRUPT', ['--data', client, '--peers', peers, 'pull', 'victim', 'n1:src']);
    expect(await localImage('victim')).toEqual(before);
    expect(await local('ckpt', 'list', 'victim')).toBe(checkpoints);
  }, 240_000);

  test('read-only tokens: pull one volume, 403 for anything else, 401 without; list and revoke', async () => {
    await version('v-ro');
    const made = JSON.parse(await onNode('token', 'create', '--read-only', 'src', '--json')) as { id: string; token: string };
    expect(made.token).toMatch(/^ro_/);
    const result = JSON.parse(await ok(['--data', client, '--token', made.token, 'pull', 'ro', `${address}:src`, '--json'])) as PullJson;
    expect(result.result).toBe('full');
    expect(await localImage('ro')).toEqual(Buffer.from(live));
    // Once more when a kept-alive connection the node closed while this process was busy is picked up.
    const get = (path: string, token?: string, method = 'GET') => {
      const once = () => fetch(`http://${address}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
      return once().catch(once);
    };
    for (const [path, method] of [['/v1/volumes', 'GET'], ['/v1/status', 'GET'], ['/v1/tokens', 'GET'], ['/v1/versions/other/index.json', 'GET'], ['/v1/volumes/src/checkpoints', 'POST']] as const) {
      const answer = await get(path, made.token, method);
      expect(answer.status, `${method} ${path}`).toBe(403);
      expect(((await answer.json()) as { code: string }).code).toBe('ERR_FORBIDDEN');
    }
    for (const path of ['/v1/versions/src/index.json', '/v1/volumes']) {
      const answer = await get(path);
      expect(answer.status, path).toBe(401);
      expect(Object.keys((await answer.json()) as object).sort()).toEqual(['code', 'message']);
    }
    expect(await onNode('token', 'list')).toContain(`${made.id}\tsrc\t`);
    await refused('ERR_NOT_FOUND', ['--peers', peers, '--node', 'n1', 'token', 'create', '--read-only', 'nosuch']);
    expect(await onNode('token', 'revoke', made.id)).toBe(`revoked ${made.id}\n`);
    const revoked = await get('/v1/versions/src/index.json', made.token);
    expect(revoked.status).toBe(401);
    await revoked.arrayBuffer();
  }, 240_000);

  test('a checkpoint whose stream is being produced is not deleted under it (ERR_IN_USE)', async () => {
    // A big volume, so producing its full stream takes long enough for a delete to arrive
    // during it (48 MiB was made in well under the time the delete took to arrive, at times).
    await onNode('create', 'big', '--size', '192M');
    const path = join(scratch, 'big');
    await writeFile(path, new Uint8Array(160 << 20).map((_, i) => (i * 131 + (i >>> 12)) & 0xff | 1));
    await onNode('write', 'big', path);
    await onNode('ckpt', 'create', 'big@b1');
    const image = (JSON.parse(await onNode('ckpt', 'list', 'big', '--json')) as { image: string }[])[0]!.image;
    const cache = join(nodeData, 'node', 'versions-cache');
    const token = JSON.parse(await onNode('token', 'create', '--read-only', 'big', '--json')) as { token: string };
    const download = fetch(`http://${address}/v1/versions/big/full/${image}.snap`, { method: 'HEAD', headers: { authorization: `Bearer ${token.token}` } });
    const deadline = Date.now() + 30_000;
    while (!readdirSync(cache).some((f) => f.endsWith('.tmp'))) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const message = await refused('ERR_IN_USE', ['--peers', peers, '--node', 'n1', 'ckpt', 'delete', 'big@b1']);
    expect(message).toMatch(/big@b1 is being served to 1 download; try again when they finish/);
    // The answer comes as soon as the stream's size is known; production goes on after it.
    expect((await download).status).toBe(200);
    while (readdirSync(cache).some((f) => f.endsWith('.tmp'))) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(await onNode('ckpt', 'delete', 'big@b1')).toBe('deleted big@b1\n');
  }, 240_000);
});
