// pull from a published directory (publish's files behind a plain static HTTP server):
// the same decisions made on the client from index.json — full, delta, up to date, and a
// full copy when the version held has no delta there.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import * as http from 'node:http';
import { join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { publishVersions } from '../../src/distribution/publish.js';
import { pull, type PullSource } from '../../src/distribution/pull.js';
import { DataDir } from '../../src/volume/data-dir.js';
import { LocalStore } from '../../src/volume/store.js';
import { backend } from '../helpers/backend.js';
import { removeDir, tempDir } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('pull-url');
const prng = new Prng(SEED);
const SIZE = 128 * 1024;

describe.runIf(backend === 'wasm')(`pull from a published directory (seed ${SEED})`, () => {
  let root = '';
  let server: http.Server;
  let origin: DataDir;
  let client: DataDir;
  let source: PullSource;
  let published = '';

  beforeAll(async () => {
    root = await tempDir('snapcopy-pull-url-');
    published = join(root, 'www');
    origin = await DataDir.open(join(root, 'origin'), { kernels: 'wasm' });
    client = await DataDir.open(join(root, 'client'), { kernels: 'wasm' });
    await origin.createVolume('src', { size: SIZE, blockSize: 4096 });
    // A static file server, as a CDN would be: no auth, no ranges needed here.
    server = http.createServer((request, response) => {
      const path = normalize(decodeURIComponent(new URL(request.url!, 'http://x').pathname)).replace(/^\/+/, '');
      const file = join(published, path);
      stat(file).then((s) => {
        response.writeHead(200, { 'content-length': s.size, 'content-type': 'application/octet-stream' });
        createReadStream(file).pipe(response);
      }, () => {
        response.writeHead(404).end('not found');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    source = { kind: 'url', url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` };
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await client?.close();
    await origin?.close();
    await removeDir(root);
  });

  async function version(name: string): Promise<Buffer> {
    const volume = await origin.volume('src');
    await volume.write(prng.int(0, SIZE / 4096 - 4) * 4096, prng.fill(new Uint8Array(4 * 4096)));
    await volume.createCheckpoint(name);
    await publishVersions(new LocalStore(origin), 'src', published, { keep: 1 });
    return Buffer.from(await volume.read(0, SIZE));
  }

  const image = async (fs: string) => Buffer.from(await (await client.volume(fs)).read(0, SIZE));

  test('full, delta, up to date; a version held with no delta there gets a full copy', async () => {
    const v1 = await version('v1');
    expect((await pull(client, 'a', source)).result).toBe('full');
    expect((await pull(client, 'old', source)).result).toBe('full');
    expect(await image('a')).toEqual(v1);
    const v2 = await version('v2');
    expect((await pull(client, 'a', source)).result).toBe('delta');
    expect(await image('a')).toEqual(v2);
    expect((await pull(client, 'a', source)).result).toBe('up-to-date');
    // --keep 1: after v3 the directory holds a delta from v2 only; a client at v1 gets a full copy.
    const v3 = await version('v3');
    expect((await pull(client, 'a', source)).result).toBe('delta');
    expect(await image('a')).toEqual(v3);
    const stale = await pull(client, 'old', source);
    expect(stale.result).toBe('full');
    expect(stale.from).not.toBeNull();
    expect(await image('old')).toEqual(v3);
  });
});
