// The node's .snap paths as an HTTP range server, checked like a protocol parser: a
// download cut after every byte offset of a small stream resumes to the same bytes,
// every split point of a Range request gives exactly the tail, and bad ranges get 416.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { download } from '../../src/distribution/download.js';
import { NodeServer } from '../../src/node/server.js';
import { httpTokenOf } from '../../src/rcp/auth.js';
import { DataDir } from '../../src/volume/data-dir.js';
import { backend } from '../helpers/backend.js';
import { removeDir, tempDir } from '../helpers/net.js';
import { CutProxy } from './cut-proxy.js';

const SECRET = 'range-server-test-secret-0123456789';

describe.runIf(backend === 'wasm')('the .snap paths as a range server', () => {
  let root = '';
  let node: NodeServer;
  let proxy: CutProxy;
  let token = '';
  let path = '';
  let whole: Buffer;

  beforeAll(async () => {
    root = await tempDir('snapcopy-range-');
    const data = join(root, 'node');
    // A small volume: one written block of 512 bytes, so the stream is a few hundred bytes.
    const dir = await DataDir.open(data, { kernels: 'wasm' });
    const volume = await dir.createVolume('small', { size: 4096, blockSize: 512 });
    await volume.write(512, new Uint8Array(512).map((_, i) => (i * 7 + 3) & 0xff));
    const ckpt = await volume.createCheckpoint('one');
    await dir.close();
    node = await NodeServer.start({ name: 'n1', listen: '127.0.0.1:0', dataDir: data, peers: { secret: SECRET, nodes: {} }, apps: undefined });
    token = await httpTokenOf(SECRET);
    proxy = await CutProxy.start(Number(node.address.split(':')[1]));
    path = `/v1/versions/small/full/${ckpt.image}.snap`;
    const response = await fetch(`http://${node.address}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    expect(response.headers.get('etag')).toBe(`"${ckpt.image}"`);
    whole = Buffer.from(await response.arrayBuffer());
    expect(Number(response.headers.get('content-length'))).toBe(whole.length);
    expect(whole.length).toBeGreaterThan(512);
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await node?.close();
    await removeDir(root);
  });

  const get = (headers: Record<string, string>, method = 'GET') =>
    fetch(`http://${node.address}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...headers } });

  test('every split point: bytes=0-(k-1) then bytes=k- is the stream, byte for byte', async () => {
    for (let k = 1; k < whole.length; k++) {
      const head = await get({ range: `bytes=0-${k - 1}` });
      const tail = await get({ range: `bytes=${k}-` });
      expect([head.status, tail.status], `k=${k}`).toEqual([206, 206]);
      expect(tail.headers.get('content-range')).toBe(`bytes ${k}-${whole.length - 1}/${whole.length}`);
      const joined = Buffer.concat([Buffer.from(await head.arrayBuffer()), Buffer.from(await tail.arrayBuffer())]);
      expect(joined.equals(whole), `k=${k}`).toBe(true);
    }
  }, 120_000);

  test('a download cut after every byte offset resumes to the same bytes', async () => {
    const out = join(root, 'download.snap');
    for (let k = 0; k < whole.length; k++) {
      proxy.cuts.push(k);
      const cutsBefore = proxy.cutCount;
      const result = await download(`http://${proxy.address}${path}`, out, { token, retries: 3 });
      expect(proxy.cutCount, `k=${k}`).toBe(cutsBefore + 1);
      expect(result.attempts, `k=${k}`).toBe(2);
      expect((await readFile(out)).equals(whole), `k=${k}`).toBe(true);
    }
  }, 180_000);

  test('HEAD says the size; past the end and malformed ranges get 416 with the size', async () => {
    const head = await get({}, 'HEAD');
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(whole.length);
    for (const range of [`bytes=${whole.length}-`, 'bytes=9-3', 'bytes=x-']) {
      const answer = await get({ range });
      expect(answer.status, range).toBe(416);
      expect(answer.headers.get('content-range')).toBe(`bytes */${whole.length}`);
      await answer.arrayBuffer();
    }
    // An If-Range that does not match the etag gets the whole stream (it changed: start over).
    const stale = await get({ range: 'bytes=5-', 'if-range': '"something-else"' });
    expect(stale.status).toBe(200);
    expect(Buffer.from(await stale.arrayBuffer()).equals(whole)).toBe(true);
  });

  test('no token: 401; a stream of a version the volume does not hold: 404', async () => {
    const anonymous = await fetch(`http://${node.address}${path}`);
    expect(anonymous.status).toBe(401);
    await anonymous.arrayBuffer();
    const missing = await get({}).then(() => fetch(`http://${node.address}/v1/versions/small/full/00000000-0000-4000-8000-000000000001.snap`, { headers: { authorization: `Bearer ${token}` } }));
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string }).code).toBe('ERR_NOT_FOUND');
  });
});
