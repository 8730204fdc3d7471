// Streaming on both sides: the node serves a stream while it is still being spooled (a
// second request for it gets the same bytes as the first), and pull imports a stream as
// it downloads; a cut is resumed with Range inside that same import, and a source gone
// for good fails the import, which must have changed nothing.
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { pull, type PullSource } from '../../src/distribution/pull.js';
import { NodeServer } from '../../src/node/server.js';
import { httpTokenOf } from '../../src/rcp/auth.js';
import { DataDir } from '../../src/volume/data-dir.js';
import { backend } from '../helpers/backend.js';
import { removeDir, tempDir } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { CutProxy } from './cut-proxy.js';

const SEED = testSeed('pull-stream');
const SECRET = 'pull-stream-test-secret-0123456789';
const MiB = 1 << 20;
/** Big enough that producing its full stream takes a while (the spool is seen growing). */
const SIZE = 48 * MiB;
const CHANGED = 8 * MiB;

describe.runIf(backend === 'wasm')(`streams served while spooled and imported while downloaded (seed ${SEED})`, () => {
  const prng = new Prng(SEED);
  let root = '';
  let node: NodeServer;
  let token = '';
  let cache = '';
  const images: Record<string, string> = {};
  const at: Record<string, Buffer> = {};

  beforeAll(async () => {
    root = await tempDir('snapcopy-pull-stream-');
    const data = join(root, 'node');
    const dir = await DataDir.open(data, { kernels: 'wasm' });
    const volume = await dir.createVolume('src', { size: SIZE, blockSize: 4096 });
    const live = Buffer.from(prng.fill(new Uint8Array(SIZE)));
    await volume.write(0, live);
    images.v1 = (await volume.createCheckpoint('v1')).image;
    at.v1 = Buffer.from(live);
    // v2 rewrites blocks in use: the import of the delta writes over blocks the volume holds.
    const offset = prng.int(0, (SIZE - CHANGED) / 4096) * 4096;
    const fresh = prng.fill(new Uint8Array(CHANGED));
    await volume.write(offset, fresh);
    live.set(fresh, offset);
    images.v2 = (await volume.createCheckpoint('v2')).image;
    at.v2 = Buffer.from(live);
    await dir.close();
    node = await NodeServer.start({ name: 'n1', listen: '127.0.0.1:0', dataDir: data, peers: { secret: SECRET, nodes: {} }, apps: undefined });
    token = await httpTokenOf(SECRET);
    cache = join(data, 'node', 'versions-cache');
  }, 300_000);

  afterAll(async () => {
    await node?.close();
    await removeDir(root);
  });

  const growing = () => readdirSync(cache).some((f) => f.endsWith('.tmp'));

  test('a GET of a stream still being spooled by a first request gets the same bytes', async () => {
    const url = `http://${node.address}/v1/versions/src/full/${images.v1}.snap`;
    const get = () => fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const first = get();
    const deadline = Date.now() + 60_000;
    while (!growing()) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const second = await get();
    const answered = growing(); // answered before the stream was whole
    const [a, b] = await Promise.all([first.then((r) => r.arrayBuffer()), second.arrayBuffer()]);
    expect(answered).toBe(true);
    expect(second.status).toBe(200);
    expect(Number(second.headers.get('content-length'))).toBe(b.byteLength);
    const spooled = readdirSync(cache).filter((f) => f.endsWith(`${images.v1}.snap`));
    expect(spooled).toHaveLength(1);
    const file = await readFile(join(cache, spooled[0]!));
    expect(Buffer.from(a).equals(file)).toBe(true);
    expect(Buffer.from(b).equals(file)).toBe(true);
  }, 300_000);

  test('a cut during an import-as-it-arrives is resumed in the same import, from where it fell; the pull is byte-exact', async () => {
    const proxy = await CutProxy.start(Number(node.address.split(':')[1]));
    const client = await DataDir.open(join(root, 'client'), { kernels: 'wasm' });
    try {
      const direct: PullSource = { kind: 'node', label: 'n1', address: node.address, volume: 'src', token };
      expect(await pull(client, 'copy', direct, { version: 'v1' })).toMatchObject({ result: 'full', to: images.v1 });
      // The delta's stream is a little over CHANGED bytes: cut it somewhere in its middle.
      const cut = prng.int(CHANGED / 4, (CHANGED * 3) / 4);
      console.log(`[pull-stream] cut after ${cut} bytes`);
      proxy.cuts.push(cut);
      const viaProxy: PullSource = { ...direct, address: proxy.address };
      const outcome = await pull(client, 'copy', viaProxy);
      expect(outcome).toMatchObject({ result: 'delta', from: images.v1, to: images.v2 });
      expect(proxy.cutCount).toBe(1);
      // /update, the stream, then the rest of it: asked from where the cut fell (the client
      // may not have handed on the last bytes it received before the cut), never from the start.
      expect(proxy.rangeStarts).toHaveLength(3);
      expect(proxy.rangeStarts.slice(0, 2)).toEqual([0, 0]);
      expect(proxy.rangeStarts[2]).toBeGreaterThan(cut - MiB);
      expect(proxy.rangeStarts[2]).toBeLessThanOrEqual(cut);
      const copy = await client.volume('copy');
      expect(Buffer.from(await copy.read(0, SIZE)).equals(at.v2!)).toBe(true);
      expect(copy.listCheckpoints().at(-1)).toMatchObject({ name: 'v2', image: images.v2 });
      expect(readdirSync(join(client.path, 'pulls')).filter((f) => !f.endsWith('.json'))).toEqual([]);
    } finally {
      await client.close();
      await proxy.close();
    }
  }, 300_000);

  test('a source gone for good after a cut fails the pull (ERR_UNREACHABLE); the import changed nothing', async () => {
    const proxy = await CutProxy.start(Number(node.address.split(':')[1]));
    const client = await DataDir.open(join(root, 'client-gone'), { kernels: 'wasm' });
    try {
      const direct: PullSource = { kind: 'node', label: 'n1', address: node.address, volume: 'src', token };
      expect(await pull(client, 'copy', direct, { version: 'v1' })).toMatchObject({ result: 'full', to: images.v1 });
      const copy = await client.volume('copy');
      const checkpoints = JSON.stringify(copy.listCheckpoints());
      const cut = prng.int(CHANGED / 4, (CHANGED * 3) / 4);
      console.log(`[pull-stream] cut after ${cut} bytes, then the source is gone`);
      proxy.cuts.push(cut);
      proxy.goneAfterCut = true;
      await expect(pull(client, 'copy', { ...direct, address: proxy.address }, { retries: 1 })).rejects.toMatchObject({ code: 'ERR_UNREACHABLE' });
      expect(proxy.cutCount).toBe(1);
      // Whatever the import wrote before the source went, its failure undid: the volume is v1.
      expect(Buffer.from(await copy.read(0, SIZE)).equals(at.v1!)).toBe(true);
      expect(JSON.stringify(copy.listCheckpoints())).toBe(checkpoints);
      expect(copy.base).toBe(images.v1);
      // The next pull, straight from the node, brings v2.
      expect(await pull(client, 'copy', direct)).toMatchObject({ result: 'delta', from: images.v1, to: images.v2 });
      expect(Buffer.from(await copy.read(0, SIZE)).equals(at.v2!)).toBe(true);
    } finally {
      await client.close();
      await proxy.close().catch(() => undefined);
    }
  }, 300_000);
});
