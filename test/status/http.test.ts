// The status application over HTTP, against an in-process node: who gets what (401 with
// no data, 403 for a read-only token, the login form and its cookie), /metrics parsed by a
// Prometheus text parser with values that follow writes and checkpoints, the snapshot,
// and the bounded server-sent event streams that end when the node closes.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../src/commands/cli.js';
import { NodeServer } from '../../src/node/server.js';
import { httpTokenOf } from '../../src/rcp/auth.js';
import { MAX_STREAMS } from '../../src/status/events.js';
import { backend } from '../helpers/backend.js';
import { freePorts, removeDir, tempDir, writePeers } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('status-http');
const prng = new Prng(SEED);
const SECRET = 'status-http-secret-0123456789';
const KiB = 1024;
/** A volume name the 401 and 403 bodies must never mention. */
const HIDDEN = 'payroll-db';
const DATA_PATHS = ['/', '/v1/status/snapshot', '/metrics', '/v1/status/events'];

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

interface PromFamily {
  name: string;
  help: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

describe(`status page and /metrics over HTTP (seed ${SEED})`, () => {
  let root = '';
  let n1: NodeServer;
  let n2: NodeServer;
  let token = '';
  let readOnly = '';

  beforeAll(async () => {
    root = await tempDir('snapcopy-status-http-');
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const peers = { secret: SECRET, nodes: { n1: `127.0.0.1:${p1}`, n2: `127.0.0.1:${p2}` } };
    n1 = await NodeServer.start({ name: 'n1', listen: `127.0.0.1:${p1}`, dataDir: join(root, 'n1'), peers, kernels: backend });
    n2 = await NodeServer.start({ name: 'n2', listen: `127.0.0.1:${p2}`, dataDir: join(root, 'n2'), peers, kernels: backend });
    token = await httpTokenOf(SECRET);
    await n1.volumes.create(HIDDEN, { size: 256 * KiB });
    readOnly = (await n1.tokens.create(HIDDEN)).token;
  }, 60_000);

  afterAll(async () => {
    await n1?.close();
    await n2?.close();
    await removeDir(root);
  });

  /** One request to n1; the whole body (or what came within `readMs` for a stream). */
  function call(path: string, options: { method?: string; headers?: Record<string, string>; body?: string; readMs?: number } = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`http://${n1.address}${path}`, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        const done = () => resolve({ status: res.statusCode!, headers: res.headers, body });
        res.on('end', done);
        if (options.readMs !== undefined) setTimeout(() => { req.destroy(); done(); }, options.readMs);
      });
      req.on('error', (error) => (options.readMs !== undefined ? undefined : reject(error)));
      req.end(options.body);
    });
  }

  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const cookie = (t: string) => ({ cookie: `other=1; snapcopy_token=${encodeURIComponent(t)}` });

  async function metrics(): Promise<Map<string, PromFamily>> {
    const reply = await call('/metrics', { headers: bearer(token) });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(reply.body) as PromFamily[];
    return new Map(families.map((f) => [f.name, f]));
  }

  const valueOf = (families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number | undefined => {
    const sample = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    return sample === undefined ? undefined : Number(sample.value);
  };

  test('without a valid credential: 401 and nothing of the node in the body', async () => {
    for (const path of DATA_PATHS) {
      for (const headers of [{}, bearer('wrong'), cookie('wrong'), bearer(`${token}x`)]) {
        const reply = await call(path, { headers, readMs: path.endsWith('events') ? 500 : undefined });
        expect(reply.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(reply.body).not.toContain(HIDDEN);
        expect(reply.body).not.toContain('snapcopy_volume_bytes');
      }
    }
    // The page without a credential is the login form.
    const page = await call('/');
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toMatch(/<form method="post" action="\/login">/);
    expect(page.body).toMatch(/<input id="token" name="token" type="password"/);
  });

  test('a read-only distribution token: 403 for the page, its data and /metrics', async () => {
    for (const path of DATA_PATHS) {
      for (const headers of [bearer(readOnly), cookie(readOnly)]) {
        const reply = await call(path, { headers, readMs: path.endsWith('events') ? 500 : undefined });
        expect(reply.status, `${path} ${JSON.stringify(headers)}`).toBe(403);
        if (path === '/') expect(reply.body).toContain('read-only distribution token');
        expect(reply.body).not.toContain('snapcopy_volume_bytes');
        expect(reply.body).not.toContain('"volumes"');
      }
    }
  });

  test('the login form: a wrong token gets the form again (401); the right one sets an HttpOnly SameSite=Strict cookie that opens the page', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const wrong = await call('/login', { method: 'POST', headers: form, body: 'token=nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('That token is not valid on this node.');
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const empty = await call('/login', { method: 'POST', headers: form, body: '' });
    expect(empty.status).toBe(401);
    const tooLong = await call('/login', { method: 'POST', headers: form, body: `token=${'a'.repeat(10_000)}` });
    expect(tooLong.status).toBe(401);
    const readOnlyLogin = await call('/login', { method: 'POST', headers: form, body: `token=${encodeURIComponent(readOnly)}` });
    expect(readOnlyLogin.status).toBe(403);
    expect(readOnlyLogin.body).toContain('read-only distribution token');
    expect(readOnlyLogin.headers['set-cookie']).toBeUndefined();

    const right = await call('/login', { method: 'POST', headers: form, body: `token=${encodeURIComponent(token)}` });
    expect(right.status).toBe(303);
    expect(right.headers.location).toBe('/');
    const setCookie = right.headers['set-cookie']![0]!;
    expect(setCookie).toBe(`snapcopy_token=${token}; HttpOnly; SameSite=Strict; Path=/`);
    const jar = { cookie: setCookie.split(';')[0]! };

    const page = await call('/', { headers: jar });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script src="/status/app.js" defer></script>');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    for (const asset of ['/status/app.js', '/status/uplot.js', '/status/uplot.css', '/status/app.css']) {
      const reply = await call(asset, { headers: jar });
      expect(reply.status, asset).toBe(200);
      expect(reply.body.length, asset).toBeGreaterThan(100);
    }
    // Only the login form's stylesheet is served before login.
    expect((await call('/status/app.css')).status).toBe(200);
    expect((await call('/status/app.js')).status).toBe(401);

    const snapshot = await call('/v1/status/snapshot', { headers: jar });
    expect(snapshot.status).toBe(200);
    expect(JSON.parse(snapshot.body).volumes.map((v: { name: string }) => v.name)).toContain(HIDDEN);

    const out = await call('/logout', { method: 'POST', headers: jar });
    expect(out.status).toBe(303);
    expect(out.headers['set-cookie']![0]).toMatch(/^snapcopy_token=; .*Max-Age=0/);
  });

  test('`snapcopy token node` prints the token the login form takes; without a peers file it says what is missing', async () => {
    const peersFile = await writePeers(root, SECRET, {});
    const run = async (argv: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(argv, { env: {}, stdout: async (line) => void out.push(line), stderr: (line) => void err.push(line) });
      return { code, out, err };
    };
    const printed = await run(['--peers', peersFile, 'token', 'node']);
    expect(printed).toEqual({ code: 0, out: [token], err: [] });
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await call('/login', { method: 'POST', headers: form, body: `token=${printed.out[0]}` })).status).toBe(303);
    const missing = await run(['token', 'node']);
    expect(missing.code).toBe(2);
    expect(missing.err).toHaveLength(1);
    expect(missing.err[0]).toMatch(/give --peers <file>/);
  });

  test('/metrics parses as Prometheus text; volume gauges follow a write and a checkpoint', async () => {
    const volume = `m-${prng.u32().toString(36)}`;
    await n1.volumes.create(volume, { size: 512 * KiB, blockSize: 4096 });
    let families = await metrics();
    for (const name of ['snapcopy_volume_bytes', 'snapcopy_volume_used_bytes', 'snapcopy_checkpoints', 'snapcopy_replication_lag_seconds',
      'snapcopy_replication_last_success_timestamp_seconds', 'snapcopy_rcp_bytes_sent_total', 'snapcopy_rcp_session_failures_total',
      'snapcopy_pull_requests_total', 'snapcopy_delta_bytes_total']) {
      expect(families.has(name), name).toBe(true);
      expect(families.get(name)!.help.length, name).toBeGreaterThan(10);
    }
    expect(families.get('snapcopy_volume_bytes')!.type).toBe('GAUGE');
    expect(families.get('snapcopy_rcp_bytes_sent_total')!.type).toBe('COUNTER');
    expect(families.get('snapcopy_pull_requests_total')!.type).toBe('COUNTER');
    expect(valueOf(families, 'snapcopy_volume_bytes', { volume })).toBe(512 * KiB);
    expect(valueOf(families, 'snapcopy_checkpoints', { volume })).toBe(0);
    expect(valueOf(families, 'snapcopy_rcp_session_failures_total')).toBe(0);
    const usedBefore = valueOf(families, 'snapcopy_volume_used_bytes', { volume })!;

    const blocks = prng.int(1, 16);
    const bytes = prng.fill(new Uint8Array(blocks * 4096));
    await n1.volumes.write(volume, 0, (async function* () { yield bytes; })());
    await n1.volumes.createCheckpoint(volume, 'first');
    await n1.volumes.createCheckpoint(volume, 'second');
    families = await metrics();
    expect(valueOf(families, 'snapcopy_checkpoints', { volume })).toBe(2);
    expect(valueOf(families, 'snapcopy_volume_used_bytes', { volume })).toBeGreaterThanOrEqual(usedBefore + blocks * 4096);
  });

  test('RCP bytes sent per group and failed sessions are counted', async () => {
    await n1.config.addRoute('g-ok', 'n2', (hop) => n1.rcp.canReach(hop));
    await n2.config.addRoute('g-ok', 'n2', (hop) => n2.rcp.canReach(hop));
    const size = prng.int(64 * KiB, 128 * KiB);
    const result = await n1.rcptest({ group: 'g-ok', name: 'probe.bin', size, source: [prng.fill(new Uint8Array(size))] });
    expect(result.destinations.n2?.status).toBe('ok');
    let families = await metrics();
    expect(valueOf(families, 'snapcopy_rcp_bytes_sent_total', { group: 'g-ok' })).toBeGreaterThan(size);
    expect(valueOf(families, 'snapcopy_rcp_session_failures_total')).toBe(0);

    // n2 has no route for this group: it refuses the session, which fails at n1.
    await n1.config.addRoute('g-refused', 'n2', (hop) => n1.rcp.canReach(hop));
    const refused = await n1.rcptest({ group: 'g-refused', name: 'probe.bin', size: 10, source: [new Uint8Array(10)] });
    expect(refused.destinations.n2?.status).toBe('failed');
    families = await metrics();
    expect(valueOf(families, 'snapcopy_rcp_session_failures_total')).toBe(1);
  });

  test('server-sent events: a snapshot at once, a new volume soon after, a bound on streams, all ended when the node closes', async () => {
    const { events, close } = openStream(n1.address, token);
    try {
      const first = await events.next();
      expect(first.node.name).toBe('n1');
      expect(first.volumes.map((v: { name: string }) => v.name)).toContain(HIDDEN);
      const volume = `e-${prng.u32().toString(36)}`;
      const created = Date.now();
      await n1.volumes.create(volume, { size: 64 * KiB });
      for (;;) {
        const next = await events.next();
        if (next.volumes.some((v: { name: string }) => v.name === volume)) break;
        expect(Date.now() - created).toBeLessThan(10_000);
      }
    } finally {
      close();
    }
  });

  test('HEAD of the events path answers at once and holds no stream', async () => {
    const head = await call('/v1/status/events', { method: 'HEAD', headers: bearer(token) });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(head.body).toBe('');
  });

  test('streams past the bound get 503 (the page polls instead); closing the node ends the open ones', async () => {
    const peers = { secret: SECRET, nodes: {} };
    const n3 = await NodeServer.start({ name: 'n3', listen: '127.0.0.1:0', dataDir: join(root, 'n3'), peers, kernels: backend });
    const streams = Array.from({ length: MAX_STREAMS }, () => openStream(n3.address, token));
    try {
      for (const s of streams) await s.events.next();
      const extra = await new Promise<number>((resolve, reject) => {
        httpRequest(`http://${n3.address}/v1/status/events`, { headers: bearer(token) }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        }).on('error', reject).end();
      });
      expect(extra).toBe(503);
      const ended = Promise.all(streams.map((s) => s.ended));
      await n3.close();
      await ended; // every stream saw its end: the node did not hang on them
    } finally {
      for (const s of streams) s.close();
      await n3.close();
    }
  });
});

/** An SSE reader: `events.next()` resolves with the next event's JSON (bounded wait). */
function openStream(address: string, token: string) {
  const queue: unknown[] = [];
  const waiters: ((value: unknown) => void)[] = [];
  let buffer = '';
  let endedResolve!: () => void;
  const ended = new Promise<void>((resolve) => (endedResolve = resolve));
  const req = httpRequest(`http://${address}/v1/status/events`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (!data) continue;
        const value = JSON.parse(data);
        const waiter = waiters.shift();
        if (waiter) waiter(value);
        else queue.push(value);
      }
    });
    res.on('close', endedResolve);
  });
  req.on('error', () => endedResolve());
  req.end();
  return {
    ended,
    close: () => req.destroy(),
    events: {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      next(): Promise<any> {
        if (queue.length > 0) return Promise.resolve(queue.shift());
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no event within 10 s')), 10_000);
          waiters.push((value) => {
            clearTimeout(timer);
            resolve(value);
          });
        });
      },
    },
  };
}
