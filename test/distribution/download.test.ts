// The resuming download against a small HTTP server whose answers each test scripts:
// a cut resumed with Range (206) hands on one unbroken stream; a source that ignores
// Range (200, same etag) is passed over up to where the cut fell; one that answers a
// resume with another stream (new etag) makes stream() end with a `restart` cut, after
// which download() starts over; a source that stays away fails with ERR_UNREACHABLE.
// Cut points are seeded.
//
// Replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/distribution/download.test.ts.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Download, download } from '../../src/distribution/download.js';
import { backend } from '../helpers/backend.js';
import { removeDir, tempDir } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('download');

/** How the server answers a request: a body and its etag; honouring Range or not; cut after `cutAt` body bytes. */
interface Answer { body: Buffer; etag: string; ranges: boolean; cutAt?: number }

describe.runIf(backend === 'wasm')(`resuming downloads (seed ${SEED})`, () => {
  const prng = new Prng(SEED);
  let server: Server;
  let url = '';
  let dir = '';
  /** The answers to the next requests, first first. */
  const script: Answer[] = [];
  /** The Range header of each request, in order. */
  const asked: (string | undefined)[] = [];
  /** Whether each request carried an authorization header, in order. */
  const authorized: boolean[] = [];
  /** A second server (another origin) that redirects every request to the first. */
  let redirector: Server;
  let elsewhere = '';

  const answer = (request: IncomingMessage, response: ServerResponse) => {
    asked.push(request.headers.range);
    authorized.push(request.headers.authorization !== undefined);
    if (request.url === '/moved') {
      response.writeHead(302, { location: '/s.snap' }).end();
      return;
    }
    const a = script.shift();
    if (!a) {
      request.socket.destroy(); // nothing scripted: the connection dies unanswered
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    const ifRange = request.headers['if-range'];
    const start = a.ranges && range && (ifRange === undefined || ifRange === a.etag) ? Number(range[1]) : 0;
    const part = a.body.subarray(start);
    response.writeHead(start > 0 ? 206 : 200, {
      etag: a.etag, 'content-length': part.length,
      ...(start > 0 ? { 'content-range': `bytes ${start}-${a.body.length - 1}/${a.body.length}` } : {}),
    });
    if (a.cutAt === undefined) {
      response.end(part);
      return;
    }
    response.write(part.subarray(0, a.cutAt), () => setTimeout(() => response.socket?.destroy(), 10));
  };

  beforeAll(async () => {
    dir = await tempDir('snapcopy-download-');
    server = createServer(answer);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/s.snap`;
    redirector = createServer((_, response) => void response.writeHead(307, { location: url }).end());
    await new Promise<void>((ok) => redirector.listen(0, '127.0.0.1', ok));
    elsewhere = `http://127.0.0.1:${(redirector.address() as { port: number }).port}/s.snap`;
  });
  afterAll(async () => {
    await new Promise<void>((ok) => redirector.close(() => ok()));
    await new Promise<void>((ok) => server.close(() => ok()));
    await removeDir(dir);
  });

  const bytes = (n: number) => Buffer.from(prng.fill(new Uint8Array(n)));
  const collect = async (source: Download) => {
    const pieces: Uint8Array[] = [];
    for await (const piece of source.stream()) pieces.push(piece);
    return Buffer.concat(pieces);
  };

  test('a cut is resumed with Range from the bytes handed on: one unbroken stream', async () => {
    for (let round = 0; round < 5; round++) {
      const body = bytes(prng.int(2, 300_000));
      const cutAt = prng.int(1, body.length - 1);
      script.push({ body, etag: '"a"', ranges: true, cutAt }, { body, etag: '"a"', ranges: true });
      asked.length = 0;
      const source = new Download(url, { retries: 2 });
      expect((await collect(source)).equals(body), `round ${round}, cut at ${cutAt}`).toBe(true);
      expect(source.attempts).toBe(2);
      expect(asked[0]).toBeUndefined();
      const resumedAt = Number(/^bytes=(\d+)-$/.exec(asked[1] ?? '')?.[1]);
      expect(resumedAt).toBeGreaterThan(0);
      expect(resumedAt).toBeLessThanOrEqual(cutAt);
      source.close();
    }
  });

  test('a source that ignores Range sends the stream whole again: what was handed on is passed over', async () => {
    for (let round = 0; round < 5; round++) {
      const body = bytes(prng.int(2, 300_000));
      const cutAt = prng.int(1, body.length - 1);
      script.push({ body, etag: '"b"', ranges: false, cutAt }, { body, etag: '"b"', ranges: false });
      const source = new Download(url, { retries: 2 });
      expect((await collect(source)).equals(body), `round ${round}, cut at ${cutAt}`).toBe(true);
      expect(source.attempts).toBe(2);
      source.close();
    }
  });

  test('a resume answered with another stream ends stream() with a restart cut; download() starts over and keeps the new one', async () => {
    const before = bytes(50_000);
    const after = bytes(60_000);
    script.push({ body: before, etag: '"old"', ranges: true, cutAt: 20_000 }, { body: after, etag: '"new"', ranges: true });
    const source = new Download(url, { retries: 2 });
    await expect(collect(source)).rejects.toMatchObject({ code: 'ERR_UNREACHABLE' });
    expect(source.restart).toBe(true);
    source.close();

    script.push({ body: before, etag: '"old"', ranges: true, cutAt: 20_000 }, { body: after, etag: '"new"', ranges: true }, { body: after, etag: '"new"', ranges: true });
    const out = join(dir, 'restart.snap');
    const result = await download(url, out, { retries: 2 });
    expect((await readFile(out)).equals(after)).toBe(true);
    expect(result).toMatchObject({ bytes: after.length, etag: '"new"', attempts: 3 });
  });

  test('a source that changes its stream at every resume is given up with ERR_CORRUPT after `retries` restarts', async () => {
    const body = bytes(30_000);
    // Every answer a new etag, every one cut: each resume meets another stream.
    for (let i = 0; i < 6; i++) script.push({ body, etag: `"v${i}"`, ranges: true, cutAt: 10_000 });
    const out = join(dir, 'changing.snap');
    await expect(download(url, out, { retries: 2 })).rejects.toMatchObject({ code: 'ERR_CORRUPT', message: expect.stringMatching(/changed 3 times/) });
    script.length = 0;
  });

  test('redirects are followed as fetch follows them; one to another origin drops the token', async () => {
    const body = bytes(20_000);
    script.push({ body, etag: '"r"', ranges: true }, { body, etag: '"r"', ranges: true });
    authorized.length = 0;
    const same = new Download(url.replace('/s.snap', '/moved'), { token: 'secret' });
    expect((await collect(same)).equals(body)).toBe(true);
    expect(authorized).toEqual([true, true]);
    same.close();
    authorized.length = 0;
    const other = new Download(elsewhere, { token: 'secret' });
    expect((await collect(other)).equals(body)).toBe(true);
    expect(authorized).toEqual([false]); // the redirector saw it; the first server, another origin, did not
    other.close();
  });

  test('a source that stays away fails with ERR_UNREACHABLE after `retries` fruitless attempts', async () => {
    const body = bytes(10_000);
    script.push({ body, etag: '"c"', ranges: true, cutAt: 4_000 }); // then connections die unanswered
    const source = new Download(url, { retries: 1 });
    await expect(collect(source)).rejects.toMatchObject({ code: 'ERR_UNREACHABLE', message: expect.stringMatching(/after 3 attempts with 4000 bytes/) });
    expect(source.restart).toBe(false);
    source.close();
  });
});
