// A published directory served by nginx (Debian's package; .ci/run installs it): pull by
// URL takes a full copy, then a delta, then finds itself up to date; a client too old for
// the deltas kept gets a full copy; a download cut mid-file resumes with Range and ends
// byte-exact; and a reader polling through nginx while publish runs never finds the index
// naming a file that is not there. Skipped, saying why, where no nginx is installed.
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { publishVersions } from '../../src/distribution/publish.js';
import { pull } from '../../src/distribution/pull.js';
import type { VersionsIndex } from '../../src/distribution/index-format.js';
import { DataDir } from '../../src/volume/data-dir.js';
import { backend } from '../helpers/backend.js';
import { freePorts, removeDir, tempDir } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { BLOCK, BLOCKS, Source } from './publish-fixture.js';
import { CuttingProxy, findNginx, Nginx } from './nginx.js';

const NGINX = findNginx();
if (!NGINX) console.warn('publish-nginx: skipped, no nginx binary found (apt-get install -y nginx; .ci/run installs it)');
const SEED = testSeed('publish-nginx');

describe.skipIf(!NGINX)('a published directory served by nginx', () => {
  let root = '';
  let pub = '';
  let source: Source;
  let nginx: Nginx;
  const clients: DataDir[] = [];

  beforeAll(async () => {
    root = await tempDir('snapcopy-publish-nginx-');
    pub = join(root, 'pub');
    await mkdir(pub);
    source = await Source.open(join(root, 'data'), new Prng(SEED));
    const [port] = await freePorts(1);
    nginx = await Nginx.start(NGINX!, join(root, 'nginx'), pub, port!);
  });
  afterAll(async () => {
    await nginx?.stop();
    for (const c of clients) await c.close();
    await source?.close();
    await removeDir(root);
  }, 30_000);

  async function client(name: string): Promise<DataDir> {
    const dir = await DataDir.open(join(root, name), { kernels: backend });
    clients.push(dir);
    return dir;
  }

  async function newVersion(keep: number): Promise<string> {
    await source.write();
    const name = await source.checkpoint();
    await publishVersions(source.store, 'v', pub, { keep });
    return name;
  }

  async function expectHolds(dir: DataDir, checkpoint: string): Promise<void> {
    const got = await (await dir.volume('copy')).read(0, BLOCKS * BLOCK);
    expect(Buffer.from(got).equals(await source.read(checkpoint)), `copy equals v@${checkpoint} (seed ${SEED})`).toBe(true);
  }

  test(`pull by URL: a full copy, then a delta, then up to date (seed ${SEED})`, async () => {
    const first = await newVersion(2);
    const dir = await client('c1');
    const url = { kind: 'url' as const, url: nginx.url };
    const full = await pull(dir, 'copy', url);
    expect(full).toMatchObject({ result: 'full', from: null });
    await expectHolds(dir, first);
    const second = await newVersion(2);
    const delta = await pull(dir, 'copy', url);
    expect(delta).toMatchObject({ result: 'delta', from: full.to });
    expect(delta.bytes).toBeGreaterThan(0);
    await expectHolds(dir, second);
    expect(await pull(dir, 'copy', url)).toMatchObject({ result: 'up-to-date', bytes: 0 });
    await expectHolds(dir, second);
  });

  test('a client older than every delta kept gets a full copy', async () => {
    const dir = await client('c2');
    const url = { kind: 'url' as const, url: nginx.url };
    const held = await pull(dir, 'copy', url);
    let latest = '';
    for (let i = 0; i < 3; i++) latest = await newVersion(1);
    const index = JSON.parse(readFileSync(join(pub, 'index.json'), 'utf8')) as VersionsIndex;
    expect(index.versions.map((v) => v.image)).not.toContain(held.to);
    const outcome = await pull(dir, 'copy', url);
    expect(outcome).toMatchObject({ result: 'full', from: held.to });
    await expectHolds(dir, latest);
  });

  test('a download cut mid-file resumes with Range and ends byte-exact', async () => {
    await source.writeAll();
    const name = await source.checkpoint();
    await publishVersions(source.store, 'v', pub, { keep: 1 });
    const proxy = await CuttingProxy.start(nginx.port, 40_000, 3);
    try {
      const dir = await client('c3');
      const outcome = await pull(dir, 'copy', { kind: 'url', url: proxy.url });
      expect(outcome.result).toBe('full');
      expect(outcome.bytes).toBeGreaterThan(BLOCKS * BLOCK);
      expect(proxy.cutsDone).toBeGreaterThanOrEqual(2);
      await expectHolds(dir, name);
      const log = readFileSync(join(nginx.work, 'access.log'), 'utf8');
      expect(log, log).toMatch(/"GET \/full\/[0-9a-f-]+\.snap HTTP\/1\.1" 206 /);
    } finally {
      await proxy.close();
    }
  });

  // Files go once neither the new index nor the one before it names them, so what a reader
  // may count on: every file of the index it read is there until the second index after it
  // has been written. A miss later than that is expected (the reader fell two publishes behind).
  test('while publish runs, a reader through nginx finds every file of the index it read (until two more publishes)', async () => {
    let publishing = true;
    let indexWrites = 0;
    const problems: string[] = [];
    let reads = 0;
    let behind = 0;
    const reader = (async () => {
      for (let i = 0; publishing && i < 100_000; i++) {
        const writesBefore = indexWrites;
        const response = await fetch(`${nginx.url}index.json`);
        if (response.status !== 200) {
          problems.push(`index.json: HTTP ${response.status}`);
          continue;
        }
        const index = (await response.json()) as VersionsIndex;
        for (const file of [...index.full, ...(index.deltas ?? [])]) {
          const head = await fetch(new URL(file.path, nginx.url), { method: 'HEAD' });
          if (head.status === 200 && Number(head.headers.get('content-length')) === file.bytes) continue;
          if (indexWrites - writesBefore >= 2) behind++;
          else problems.push(`${file.path}: HTTP ${head.status}, ${head.headers.get('content-length')} bytes, index says ${file.bytes}`);
        }
        reads++;
      }
    })();
    try {
      for (let round = 0; round < 8; round++) {
        await source.write();
        await source.checkpoint();
        await publishVersions(source.store, 'v', pub, { keep: round % 3, onStep: (s) => void (s.step === 'index-written' && indexWrites++) });
      }
    } finally {
      publishing = false;
      await reader;
    }
    expect(reads).toBeGreaterThan(0);
    expect(problems, `${reads} reads, ${behind} misses two publishes behind (expected)`).toEqual([]);
  });
});
