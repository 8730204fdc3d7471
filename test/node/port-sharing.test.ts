// One port, two protocols (FIG. 19): the node's L5 filter reads each connection's first
// line and hands it to the HTTP control API or to the RCP service. Here a node (a) takes
// an RCP transfer from another node (b) on its one port while hundreds of HTTP requests
// (good token, wrong token, no token, unknown paths, keep-alive and fresh connections,
// HTTP/1.0 and 1.1) arrive on the same port, and both sides work: every byte arrives,
// every request gets its right answer. The transfer is held at its halfway point until
// the HTTP burst is over, so the two really overlap.

import { randomFillSync } from 'node:crypto';
import * as http from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { httpTokenOf } from '../../src/rcp/auth.js';
import { crc32 } from '../../src/storage/checksum.js';
import { removeDir, runCli, tempDir, writePeers } from '../helpers/net.js';
import {
  RawPeer, SECRET, type TestNode, clientHandshake, httpCall, rawExchange, rcpProbe, rcptestSession, sleep, startNode, withTimeout,
} from '../helpers/rcp-client.js';

const describeNet = process.env.SNAPCOPY_KERNELS !== 'wasm' ? describe.skip : describe;

const MiB = 1024 * 1024;

interface Sink {
  bytes: number;
  crc: number;
  frames: number;
  ended: boolean;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Runs `tasks` with at most `width` in flight. */
async function pool<T>(tasks: (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  }));
  return results;
}

describeNet('one port for HTTP and RCP', () => {
  let a: TestNode;
  let b: TestNode;
  let token: string;
  let cliDir: string;
  let peersFile: string;
  const sinks = new Map<string, Sink>();

  beforeAll(async () => {
    token = await httpTokenOf(SECRET);
    a = await startNode('a');
    b = await startNode('b');
    a.node.rcp.handle('sink', (params) => {
      const sink: Sink = { bytes: 0, crc: 0, frames: 0, ended: false };
      sinks.set(params.id, sink);
      return {
        onData(body) {
          sink.bytes += body.byteLength;
          sink.crc = crc32(body, sink.crc);
          sink.frames++;
        },
        onEnd() {
          sink.ended = true;
        },
      };
    });
    // a delivers groups g and files to itself; b sends both to a.
    a.node.config.routing.add('g', 'a');
    a.node.config.routing.add('files', 'a');
    await a.node.config.save();
    await b.node.config.addPeer('a', a.node.address);
    b.node.config.routing.add('g', 'a');
    b.node.config.routing.add('files', 'a');
    await b.node.config.save();
    cliDir = await tempDir('snapcopy-cli-');
    peersFile = await writePeers(cliDir, SECRET, {});
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    if (cliDir) await removeDir(cliDir);
  });

  test('an RCP transfer and a burst of HTTP requests share the port, concurrently', async () => {
    const total = 24 * MiB;
    const chunk = 256 * 1024;
    const halfway = deferred();
    const burstOver = deferred();
    let sentCrc = 0;
    let sessionId = '';

    const transfer = (async () => {
      const session = b.node.rcp.openSession({ group: 'g', app: 'sink' });
      sessionId = session.id;
      try {
        for (let offset = 0; offset < total; offset += chunk) {
          if (offset === total / 2) {
            await session.acknowledged(offset / chunk);
            halfway.resolve();
            await burstOver.promise;
          }
          const frame = session.allocData(chunk);
          randomFillSync(frame.body);
          sentCrc = crc32(frame.body, sentCrc);
          await session.sendAllocated(frame);
        }
        return await session.end();
      } finally {
        halfway.resolve();
      }
    })();

    // Different requests, each on its own connection (every one goes through the filter).
    type Check = { status: number; code?: string; name?: string; sessions?: { group: string; upstream?: string }[] };
    const kinds: (() => Promise<Check>)[] = [
      async () => {
        const r = await httpCall(a.node.address, { path: '/v1/status', token });
        return { status: r.status, name: r.json?.name as string, sessions: r.json?.sessions as Check['sessions'] };
      },
      async () => {
        const r = await httpCall(a.node.address, { path: '/v1/status', token: 'f'.repeat(64) });
        return { status: r.status, code: r.json?.code as string };
      },
      async () => {
        const r = await httpCall(a.node.address, { path: '/v1/status' });
        return { status: r.status, code: r.json?.code as string };
      },
      async () => {
        const r = await httpCall(a.node.address, { path: '/v1/nothing-here', token });
        return { status: r.status, code: r.json?.code as string };
      },
      async () => {
        const r = await httpCall(a.node.address, { path: '/v1/routes', token });
        return { status: r.status, name: Object.keys((r.json?.routes ?? {}) as object).sort().join(',') };
      },
      async () => {
        const r = await httpCall(a.node.address, { method: 'PUT', path: '/v1/status', token });
        return { status: r.status, code: r.json?.code as string };
      },
    ];
    const expected: Check[] = [
      { status: 200, name: 'a' },
      { status: 401, code: 'ERR_AUTH' },
      { status: 401, code: 'ERR_AUTH' },
      { status: 404, code: 'ERR_NOT_FOUND' },
      { status: 200, name: 'files,g' },
      { status: 405, code: 'ERR_NOT_FOUND' },
    ];
    const requests = 300;

    const burst = (async () => {
      await halfway.promise;
      try {
        const results = await pool(Array.from({ length: requests }, (_, i) => kinds[i % kinds.length]!), 24);
        // Keep-alive connections too: many requests on each sniffed socket.
        const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
        try {
          const keepAlive = await pool(Array.from({ length: 60 }, (_, i) => async () => {
            const response = await httpCall(a.node.address, { path: '/v1/status', token: i % 2 ? token : undefined, agent });
            return { i, status: response.status, body: response.json ?? {}, reused: response.headers.connection };
          }), 4);
          const sockets = Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length;
          expect(sockets).toBeLessThanOrEqual(4);
          return { results, keepAlive };
        } finally {
          agent.destroy();
        }
      } finally {
        burstOver.resolve();
      }
    })();

    // Meanwhile rcptest through the CLI: b's HTTP API is asked to send a file to group
    // "files", whose destination is a, over a's shared port.
    const file = join(cliDir, 'cli-file.bin');
    const content = randomFillSync(new Uint8Array(3 * MiB + 12345));
    await writeFile(file, content);
    const cli = (async () => {
      await halfway.promise;
      return runCli(['--node', b.node.address, '--peers', peersFile, 'rcptest', `data=${file}`, 'group=files', '--json'], { timeoutMs: 60_000 });
    })();

    const [result, { results, keepAlive }, cliResult] = await withTimeout(Promise.all([transfer, burst, cli]), 90_000, 'the transfer, the burst and the CLI rcptest');

    // The transfer: every byte, in order, acknowledged by a.
    expect(result.destinations).toEqual({ a: { status: 'ok', acked: result.frames } });
    const sink = sinks.get(sessionId)!;
    expect(sink).toMatchObject({ bytes: total, crc: sentCrc, frames: total / chunk, ended: true });

    // The burst: every request got its own right answer.
    for (let i = 0; i < requests; i++) {
      const want = expected[i % kinds.length]!;
      const { sessions, ...got } = results[i]!;
      expect(got, `request ${i}`).toEqual(want);
      if (sessions) expect(sessions.some((s) => s.group === 'g' && s.upstream === 'b'), `request ${i} sees the inbound session`).toBe(true);
    }
    for (const { i, status, body, reused } of keepAlive) {
      expect(reused, `keep-alive request ${i}`).toBe('keep-alive');
      if (i % 2) expect({ status, name: body.name }).toEqual({ status: 200, name: 'a' });
      else expect({ status, code: body.code }).toEqual({ status: 401, code: 'ERR_AUTH' });
    }

    // The CLI rcptest: the file arrived whole at a.
    expect(cliResult.code, cliResult.stderr).toBe(0);
    const report = JSON.parse(cliResult.stdout) as { bytes: number; destinations: Record<string, { status: string }> };
    expect(report.bytes).toBe(content.byteLength);
    expect(report.destinations).toEqual({ a: expect.objectContaining({ status: 'ok' }) });
    expect(Buffer.compare(await readFile(join(a.dir, 'rcptest', 'cli-file.bin')), content)).toBe(0);
  }, 120_000);

  test('HTTP/1.0 requests are served on the RCP port (and the connection closed after the answer)', async () => {
    const ok = await rawExchange(a.node.address, `GET /v1/status HTTP/1.0\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    expect(ok).toMatch(/^HTTP\/1\.[01] 200 /);
    const body = JSON.parse(ok.slice(ok.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    expect(body).toMatchObject({ name: 'a', address: a.node.address });

    const refused = await rawExchange(a.node.address, 'GET /v1/status HTTP/1.0\r\nAuthorization: Bearer nope\r\n\r\n');
    expect(refused).toMatch(/^HTTP\/1\.[01] 401 /);
    expect(JSON.parse(refused.slice(refused.indexOf('\r\n\r\n') + 4))).toMatchObject({ code: 'ERR_AUTH' });

    const missing = await rawExchange(a.node.address, `GET /v2/anything HTTP/1.0\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    expect(missing).toMatch(/^HTTP\/1\.[01] 404 /);

    const payload = JSON.stringify({ group: 'http10', nexthop: 'a' });
    const posted = await rawExchange(a.node.address,
      `POST /v1/routes HTTP/1.0\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n${payload}`);
    expect(posted).toMatch(/^HTTP\/1\.[01] 200 /);
    expect(a.node.config.routing.nextHops('http10')).toEqual(['a']);
  });

  test('a first line that arrives in pieces is still routed: HTTP and RCP', async () => {
    // HTTP, a few bytes at a time.
    const http = await RawPeer.connect(a.node.address);
    const chunks: Buffer[] = [];
    http.socket.on('data', (c: Buffer) => chunks.push(c));
    const request = `GET /v1/status HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`;
    for (let i = 0; i < request.length; i += 5) {
      http.write(request.slice(i, i + 5));
      await sleep(i < 30 ? 20 : 0);
    }
    await http.waitClosed(5000);
    const answer = Buffer.concat(chunks).toString('latin1');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);

    // RCP, the preamble one byte at a time, then a whole session.
    const rcp = await RawPeer.connect(a.node.address);
    try {
      for (const byte of 'RCP/1.0\r') {
        rcp.write(byte);
        await sleep(15);
      }
      // clientHandshake sends the preamble itself: send only its last byte by hand here.
      const originalPreamble = rcp.preambleLine.bind(rcp);
      rcp.preambleLine = () => rcp.write('\n');
      await clientHandshake(rcp, { name: 'dripper' });
      rcp.preambleLine = originalPreamble;
      const probe = await rcptestSession(rcp, { nodeName: 'a', group: 'files', bytes: 5000 });
      expect(Buffer.compare(await readFile(join(a.dir, 'rcptest', probe.file)), probe.bytes)).toBe(0);
    } finally {
      rcp.destroy();
    }
  });

  test('after all that, a keeps serving both: a status, an RCP probe, and no session left holding bytes', async () => {
    const status = await httpCall(a.node.address, { path: '/v1/status', token });
    expect(status.status).toBe(200);
    const probe = await rcpProbe(a.node.address, { nodeName: 'a', group: 'files' });
    expect(Buffer.compare(await readFile(join(a.dir, 'rcptest', probe.file)), probe.bytes)).toBe(0);
    for (const session of a.node.status().sessions) expect(session.retainedBytes, session.id).toBe(0);
  });
});
