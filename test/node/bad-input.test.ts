// A node facing bad input on its one port. For every kind of bad connection: the
// offending connection gets a clear ERROR frame (its code checked) or is closed, within a
// bound; the node still serves a good client afterwards (an HTTP status and a small RCP
// rcptest session); and what the node holds stays bounded (no session left behind by a
// connection that never opened one, no retained bytes, an oversized frame refused from
// its header alone, an origin's retained bytes never past its window with a destination
// that stops reading). Most cases run against a node in this process (fast, tunable);
// one runs a real `snapcopy serve` child through a barrage of garbage.

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { httpTokenOf } from '../../src/rcp/auth.js';
import { DEFAULT_MAX_PAYLOAD, HANDSHAKE_MAX_PAYLOAD } from '../../src/rcp/frame.js';
import { PROTOCOL_VERSION } from '../../src/rcp/handshake.js';
import { crc32 } from '../../src/storage/checksum.js';
import { NodeProcess, removeDir, stopAll, tempDir, writePeers } from '../helpers/net.js';
import {
  FRAME, FRAME_HEADER_BYTES, RawPeer, SECRET, type TestNode, WRONG_SECRET, clientHandshake, controlFrame, corruptChecksum,
  dataFrame, endFrame, handFrame, headerOnly, httpCall, jsonFrame, openMessage, randomNonce, rcpProbe, sendHello,
  serverHandshake, sleep, startNode, until, withTimeout,
} from '../helpers/rcp-client.js';

const describeNet = process.env.SNAPCOPY_KERNELS !== 'wasm' ? describe.skip : describe;

const KiB = 1024;
const MiB = 1024 * 1024;
/** The node's L5 filter: how long a connection has for its first line, and how many bytes. */
const SNIFF_TIMEOUT_MS = 5000;
const SNIFF_LIMIT = 8192;
const HANDSHAKE_TIMEOUT_MS = 1000;
const DEAD_AFTER_MS = 2500;
const PREAMBLE_BYTES = 'RCP/1.0\r\n'.length;

let n: TestNode;
let token: string;
/** Bytes the sink application received, per session. */
const sinks = new Map<string, { bytes: number; ended: boolean }>();

const peers = new Set<RawPeer>();

async function connect(options: { answerPings?: boolean } = {}): Promise<RawPeer> {
  const peer = await RawPeer.connect(n.node.address, options);
  peers.add(peer);
  return peer;
}

type Stage = 'hello' | 'auth' | 'open' | 'opened';

/**
 * A raw client at a stage of the protocol: 'hello' (preamble sent, HELLO expected),
 * 'auth' (CHALLENGE received, AUTH expected), 'open' (WELCOME received, OPEN expected),
 * 'opened' (OPENED received: sequenced frames expected).
 */
async function at(stage: Stage, options: { answerPings?: boolean; group?: string; app?: string } = {}): Promise<RawPeer> {
  const peer = await connect(options);
  if (stage === 'hello') {
    peer.preambleLine();
    return peer;
  }
  if (stage === 'auth') {
    sendHello(peer, { name: 'bad-client' });
    await peer.expect(FRAME.CHALLENGE);
    return peer;
  }
  await clientHandshake(peer, { name: 'bad-client' });
  if (stage === 'open') return peer;
  peer.send(FRAME.OPEN, openMessage({ group: options.group ?? 'sinkgrp', app: options.app ?? 'sink', origin: 'bad-client' }));
  const opened = await peer.expect(FRAME.OPENED);
  expect(opened.have).toBe(0);
  return peer;
}

/** The connection ends with exactly one ERROR frame carrying `code`, and is closed. */
async function expectRefused(peer: RawPeer, code: string, withinMs = 3000): Promise<string> {
  const fate = await peer.fate(withinMs);
  expect(fate.errors.map((e) => e.code), fate.errors.map((e) => e.message).join('; ')).toEqual([code]);
  expect(fate.closed, 'the node closed the connection').toBe(true);
  expect(peer.parseError).toBeUndefined();
  return fate.errors[0]!.message;
}

function sessionIds(): Set<string> {
  return new Set(n.node.status().sessions.map((s) => s.id));
}

/** No session appeared since `before` (a connection that never got OPENED must leave nothing behind). */
function expectNoNewSession(before: Set<string>): void {
  const added = n.node.status().sessions.filter((s) => !before.has(s.id));
  expect(added.map((s) => `${s.id} (${s.group} from ${s.upstream})`)).toEqual([]);
}

/** Sessions bounded in number and in bytes held. */
function expectBoundedMemory(): void {
  const sessions = n.node.status().sessions;
  expect(sessions.length).toBeLessThanOrEqual(64);
  for (const session of sessions) expect(session.retainedBytes, `session ${session.id}`).toBeLessThanOrEqual(DEFAULT_MAX_PAYLOAD + 64);
}

/** The node still serves a good client: an HTTP status, and a whole rcptest session over RCP. */
async function expectStillServes(): Promise<void> {
  const status = await httpCall(n.node.address, { path: '/v1/status', token });
  expect(status.status).toBe(200);
  expect(status.json?.name).toBe('n');
  const probe = await rcpProbe(n.node.address, { nodeName: 'n', group: 'self', bytes: 20_000 });
  expect(Buffer.compare(await readFile(join(n.dir, 'rcptest', probe.file)), probe.bytes)).toBe(0);
  expectBoundedMemory();
}

describeNet('bad input at a node in this process', () => {
  beforeAll(async () => {
    token = await httpTokenOf(SECRET);
    n = await startNode('n', {
      tuning: {
        handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
        timers: { keepaliveMs: 500, deadAfterMs: DEAD_AFTER_MS },
        lingerMs: 500,
        idleMs: 2000,
      },
    });
    n.node.rcp.handle('sink', (params) => {
      const sink = { bytes: 0, ended: false };
      sinks.set(params.id, sink);
      return {
        onData(body) {
          sink.bytes += body.byteLength;
        },
        onEnd() {
          sink.ended = true;
        },
      };
    });
    n.node.config.routing.add('self', 'n');
    n.node.config.routing.add('sinkgrp', 'n');
    await n.node.config.save();
  });

  afterAll(async () => {
    for (const peer of peers) peer.destroy();
    await n?.close();
  });

  // -------------------------------------------------------------------------------
  describe('before the first line is known', () => {
    test.each([
      ['binary junk', randomBytes(4096)],
      ['a NUL byte', Buffer.from([0])],
      ['an SSH banner', Buffer.from('SSH-2.0-OpenSSH_9.6\r\n')],
      ['a TLS ClientHello', Buffer.from('160301020001000100', 'hex')],
      ['an empty line', Buffer.from('\r\n')],
      ['another RCP version', Buffer.from('RCP/2.0\r\n')],
      ['HTTP/2 prior knowledge', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
      ['a lower-case request line', Buffer.from('get /v1/status HTTP/1.1\r\n\r\n')],
    ])('garbage first bytes (%s): closed at once, nothing answered', async (_what, junk) => {
      const before = sessionIds();
      const peer = await connect();
      peer.write(junk);
      await peer.waitClosed(2000);
      expect(peer.closedAfterMs!).toBeLessThan(2000);
      expect(peer.bytesIn).toBe(0);
      expectNoNewSession(before);
      await expectStillServes();
    });

    test(`no line end: a slow drip, or silence, is closed after ${SNIFF_TIMEOUT_MS} ms`, async () => {
      // [first bytes, then one byte every 250 ms]: each stays a possible first line, none ends.
      const starts: [string, string][] = [['GET /', 'a'], ['RCP/1.0', ' '], ['POST /v1/routes', 'b'], ['', '']];
      const drips = await Promise.all(starts.map(async ([start, byte]) => {
        const peer = await connect();
        if (start) peer.write(start);
        const timer = setInterval(() => {
          if (byte && !peer.isClosed) peer.write(byte);
        }, 250);
        try {
          await peer.waitClosed(SNIFF_TIMEOUT_MS + 3000);
        } finally {
          clearInterval(timer);
        }
        return { start, afterMs: peer.closedAfterMs!, bytesIn: peer.bytesIn, bytesOut: peer.bytesOut };
      }));
      for (const drip of drips) {
        expect(drip.afterMs, JSON.stringify(drip)).toBeGreaterThanOrEqual(SNIFF_TIMEOUT_MS - 200);
        expect(drip.afterMs, JSON.stringify(drip)).toBeLessThan(SNIFF_TIMEOUT_MS + 2000);
        expect(drip.bytesIn, JSON.stringify(drip)).toBe(0);
      }
      await expectStillServes();
    }, 20_000);

    test(`no line end within ${SNIFF_LIMIT} bytes: closed at the limit, not at the timeout`, async () => {
      // All at once.
      const burst = await connect();
      burst.write(`GET /${'a'.repeat(SNIFF_LIMIT + 100)}`);
      await burst.waitClosed(2000);
      expect(burst.bytesIn).toBe(0);

      // Exactly the limit.
      const exact = await connect();
      exact.write(`RCP/1.0${'x'.repeat(SNIFF_LIMIT - 7)}`);
      await exact.waitClosed(2000);
      expect(exact.closedAfterMs!).toBeLessThan(2000);

      // 1 KiB every 100 ms: the node stops reading at 8 KiB, long before 5 s.
      const drip = await connect();
      drip.write('POST /');
      let sent = 6;
      while (!drip.isClosed && drip.closedAfterMs === undefined && performance.now() - drip.openedAt < SNIFF_TIMEOUT_MS) {
        drip.write('b'.repeat(KiB));
        sent += KiB;
        await sleep(100);
      }
      await drip.waitClosed(2000);
      expect(drip.closedAfterMs!).toBeLessThan(SNIFF_TIMEOUT_MS - 1000);
      expect(sent).toBeLessThanOrEqual(SNIFF_LIMIT + 3 * KiB);
      expect(drip.bytesIn).toBe(0);

      // One byte short of the limit is still waited for, and then completes fine.
      const short = await connect();
      const line = `GET /v1/status?${'q'.repeat(7900)} HTTP/1.1\r\n`;
      expect(line.length).toBeLessThan(SNIFF_LIMIT);
      short.write(line.slice(0, -1));
      await sleep(200);
      expect(short.isClosed).toBe(false);
      const chunks: Buffer[] = [];
      short.socket.on('data', (c: Buffer) => chunks.push(c));
      short.write(`\nHost: n\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
      await short.waitClosed(3000);
      expect(Buffer.concat(chunks).toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
      await expectStillServes();
    });
  });

  // -------------------------------------------------------------------------------
  describe('before WELCOME (unauthenticated)', () => {
    test(`a frame over ${HANDSHAKE_MAX_PAYLOAD} bytes: ERR_FRAME_TOO_LARGE from its header alone`, async () => {
      const before = sessionIds();
      for (const length of [HANDSHAKE_MAX_PAYLOAD + 1, 64 * KiB, DEFAULT_MAX_PAYLOAD, 0xffffffff]) {
        const peer = await connect({ answerPings: false });
        peer.write(`RCP/1.0\r\n`);
        peer.write(headerOnly(FRAME.HELLO, length));
        const message = await expectRefused(peer, 'ERR_FRAME_TOO_LARGE');
        expect(message).toContain(String(length));
        // Only the preamble and the 12-byte header were ever sent: the node did not wait for the payload.
        expect(peer.bytesOut).toBe(PREAMBLE_BYTES + FRAME_HEADER_BYTES);
      }

      // The header one byte at a time: refused at its last byte.
      const slow = await connect({ answerPings: false });
      slow.preambleLine();
      const header = headerOnly(FRAME.HELLO, HANDSHAKE_MAX_PAYLOAD + 1);
      for (const byte of header) {
        slow.write(Uint8Array.of(byte));
        await sleep(5);
      }
      await expectRefused(slow, 'ERR_FRAME_TOO_LARGE');
      expect(slow.bytesOut).toBe(PREAMBLE_BYTES + FRAME_HEADER_BYTES);
      expectNoNewSession(before);
      await expectStillServes();
    });

    test(`a HELLO of exactly ${HANDSHAKE_MAX_PAYLOAD} bytes is within the limit; one more byte is not`, async () => {
      const hello = (size: number) => {
        const base = { versions: [PROTOCOL_VERSION], node: 'padded', nonce: randomNonce(), pad: '' };
        const pad = size - new TextEncoder().encode(JSON.stringify(base)).byteLength;
        return jsonFrame(FRAME.HELLO, { ...base, pad: 'p'.repeat(pad) });
      };
      const fits = await connect();
      sendHello(fits, { helloFrame: hello(HANDSHAKE_MAX_PAYLOAD) });
      expect(fits.bytesOut).toBe(PREAMBLE_BYTES + FRAME_HEADER_BYTES + HANDSHAKE_MAX_PAYLOAD);
      const challenge = await fits.expect(FRAME.CHALLENGE);
      expect(challenge.node).toBe('n');

      const over = await connect();
      sendHello(over, { helloFrame: hello(HANDSHAKE_MAX_PAYLOAD + 1) });
      await expectRefused(over, 'ERR_FRAME_TOO_LARGE');
      await expectStillServes();
    });

    test('a bad checksum: ERR_CHECKSUM', async () => {
      const before = sessionIds();
      const hello = jsonFrame(FRAME.HELLO, { versions: [PROTOCOL_VERSION], node: 'bad-client', nonce: randomNonce() });
      const peer = await connect();
      peer.preambleLine();
      peer.write(corruptChecksum(hello));
      await expectRefused(peer, 'ERR_CHECKSUM');

      // A flipped payload bit, the header intact.
      const flipped = hello.slice();
      flipped[FRAME_HEADER_BYTES + 3]! ^= 0x01;
      const peer2 = await connect();
      peer2.preambleLine();
      peer2.write(flipped);
      await expectRefused(peer2, 'ERR_CHECKSUM');

      // At the AUTH step.
      const peer3 = await at('auth');
      peer3.write(corruptChecksum(jsonFrame(FRAME.AUTH, { proof: 'x'.repeat(64) })));
      await expectRefused(peer3, 'ERR_CHECKSUM');
      expectNoNewSession(before);
      await expectStillServes();
    });

    test('the wrong secret: ERR_AUTH, and no WELCOME', async () => {
      const before = sessionIds();
      const peer = await connect();
      await clientHandshake(peer, { name: 'bad-client', secret: WRONG_SECRET, expectWelcome: false });
      await expectRefused(peer, 'ERR_AUTH');
      expect(peer.received.some((f) => f.type === FRAME.WELCOME)).toBe(false);

      // Many in a row do not wear the node down.
      await Promise.all(Array.from({ length: 20 }, async () => {
        const p = await connect();
        await clientHandshake(p, { name: 'bad-client', secret: WRONG_SECRET, expectWelcome: false });
        await expectRefused(p, 'ERR_AUTH');
      }));
      expectNoNewSession(before);
      await expectStillServes();
    });

    test('an unknown protocol version: ERR_VERSION', async () => {
      const peer = await connect();
      sendHello(peer, { name: 'bad-client', versions: [1, 3] });
      await expectRefused(peer, 'ERR_VERSION');
      await expectStillServes();
    });

    test.each([
      ['not JSON', handFrame(FRAME.HELLO, new TextEncoder().encode(`{"versions": [${PROTOCOL_VERSION}], "node": `))],
      ['a JSON array', jsonFrame(FRAME.HELLO, [1, 'bad-client'])],
      ['not UTF-8', handFrame(FRAME.HELLO, Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d))],
      ['a bad node name', jsonFrame(FRAME.HELLO, { versions: [PROTOCOL_VERSION], node: '../etc', nonce: randomNonce() })],
      ['a short nonce', jsonFrame(FRAME.HELLO, { versions: [PROTOCOL_VERSION], node: 'bad-client', nonce: 'abc' })],
    ])('a HELLO that is %s: ERR_PROTOCOL', async (_what, frame) => {
      const peer = await connect();
      peer.preambleLine();
      peer.write(frame);
      await expectRefused(peer, 'ERR_PROTOCOL');
      await expectStillServes();
    });

    test('a PING before HELLO is answered with a PONG and the handshake goes on', async () => {
      const peer = await connect();
      peer.preambleLine();
      peer.send(FRAME.PING, {});
      await until(() => peer.received.some((f) => f.type === FRAME.PONG), 2000, 'a PONG');
      // The preamble is already sent: the rest of the handshake as usual.
      const nonce = randomNonce();
      peer.send(FRAME.HELLO, { versions: [PROTOCOL_VERSION], node: 'pinger', nonce });
      const challenge = await peer.expect(FRAME.CHALLENGE);
      expect(challenge.node).toBe('n');
    });
  });

  // -------------------------------------------------------------------------------
  describe('frames of the wrong type, at each stage', () => {
    const json = (type: number) => jsonFrame(type as never, {});
    const seq = (type: 'DATA' | 'CONTROL') => (type === 'DATA' ? dataFrame(1, Uint8Array.of(1, 2, 3)) : controlFrame(1, { x: 1 }));
    const wrong: Record<Stage, [string, Uint8Array][]> = {
      hello: [
        ['AUTH', jsonFrame(FRAME.AUTH, { proof: 'x' })], ['CHALLENGE', json(FRAME.CHALLENGE)], ['WELCOME', json(FRAME.WELCOME)],
        ['OPEN', jsonFrame(FRAME.OPEN, openMessage({ group: 'self', app: 'rcptest' }))], ['OPENED', json(FRAME.OPENED)],
        ['DATA', seq('DATA')], ['CONTROL', seq('CONTROL')], ['ACK', json(FRAME.ACK)], ['ROUTES', json(FRAME.ROUTES)],
      ],
      auth: [
        ['HELLO', jsonFrame(FRAME.HELLO, { versions: [PROTOCOL_VERSION], node: 'again', nonce: randomNonce() })], ['CHALLENGE', json(FRAME.CHALLENGE)],
        ['WELCOME', json(FRAME.WELCOME)], ['OPEN', jsonFrame(FRAME.OPEN, openMessage({ group: 'self', app: 'rcptest' }))],
        ['DATA', seq('DATA')], ['ACK', json(FRAME.ACK)],
      ],
      open: [
        ['HELLO', jsonFrame(FRAME.HELLO, { versions: [PROTOCOL_VERSION], node: 'again', nonce: randomNonce() })], ['AUTH', jsonFrame(FRAME.AUTH, { proof: 'x' })],
        ['WELCOME', json(FRAME.WELCOME)], ['OPENED', json(FRAME.OPENED)], ['DATA', seq('DATA')], ['CONTROL', seq('CONTROL')],
        ['ACK', json(FRAME.ACK)], ['ROUTES', json(FRAME.ROUTES)],
      ],
      opened: [
        ['HELLO', jsonFrame(FRAME.HELLO, { versions: [PROTOCOL_VERSION], node: 'again', nonce: randomNonce() })], ['AUTH', jsonFrame(FRAME.AUTH, { proof: 'x' })],
        ['WELCOME', json(FRAME.WELCOME)], ['OPEN', jsonFrame(FRAME.OPEN, openMessage({ group: 'sinkgrp', app: 'sink' }))],
        ['OPENED', json(FRAME.OPENED)], ['ACK', jsonFrame(FRAME.ACK, { acks: {}, failed: {} })], ['ROUTES', jsonFrame(FRAME.ROUTES, { hops: [] })],
        ['CHALLENGE', json(FRAME.CHALLENGE)],
      ],
    };

    test.each(Object.keys(wrong) as Stage[])('at stage "%s": every unexpected frame type is ERR_PROTOCOL', async (stage) => {
      const before = sessionIds();
      await Promise.all(wrong[stage].map(async ([name, frame]) => {
        const peer = await at(stage);
        peer.write(frame);
        const fate = await peer.fate(3000);
        expect({ name, codes: fate.errors.map((e) => e.code), closed: fate.closed }).toEqual({ name, codes: ['ERR_PROTOCOL'], closed: true });
      }));
      if (stage !== 'opened') expectNoNewSession(before);
      await expectStillServes();
    });

    test.each(['hello', 'auth', 'open', 'opened'] as Stage[])('at stage "%s": an unknown frame type, or non-zero flags, is ERR_PROTOCOL', async (stage) => {
      const bad: [string, Uint8Array][] = [
        ['type 0', handFrame(0, new TextEncoder().encode('{}'))],
        ['type 14', handFrame(14, new TextEncoder().encode('{}'))],
        ['type 255', handFrame(255, new Uint8Array(0))],
        ['flags 1', handFrame(FRAME.PING, new TextEncoder().encode('{}'), { flags: 1 })],
        ['an unknown type, header only, huge length', headerOnly(200, 0xfffffff0)],
      ];
      await Promise.all(bad.map(async ([name, frame]) => {
        const peer = await at(stage);
        peer.write(frame);
        const fate = await peer.fate(3000);
        expect({ name, codes: fate.errors.map((e) => e.code), closed: fate.closed }).toEqual({ name, codes: ['ERR_PROTOCOL'], closed: true });
      }));
      await expectStillServes();
    });
  });

  // -------------------------------------------------------------------------------
  describe('silence', () => {
    test(`a peer silent after the preamble, after HELLO, after WELCOME, or mid-frame: ERR_TIMEOUT after ${HANDSHAKE_TIMEOUT_MS} ms`, async () => {
      const before = sessionIds();
      const cases = await Promise.all([
        (async () => {
          const peer = await connect({ answerPings: false });
          peer.preambleLine();
          return { what: 'after the preamble', peer, from: performance.now() };
        })(),
        (async () => {
          const peer = await at('auth', { answerPings: false });
          return { what: 'after HELLO', peer, from: performance.now() };
        })(),
        (async () => {
          const peer = await at('open', { answerPings: false });
          return { what: 'after WELCOME', peer, from: performance.now() };
        })(),
        (async () => {
          const peer = await connect({ answerPings: false });
          peer.preambleLine();
          const hello = jsonFrame(FRAME.HELLO, { versions: [PROTOCOL_VERSION], node: 'half', nonce: randomNonce() });
          peer.write(hello.subarray(0, FRAME_HEADER_BYTES + 5));
          return { what: 'mid-frame', peer, from: performance.now() };
        })(),
      ]);
      await Promise.all(cases.map(async ({ what, peer, from }) => {
        const message = await expectRefused(peer, 'ERR_TIMEOUT', HANDSHAKE_TIMEOUT_MS + 3000);
        const afterMs = peer.closedAt! - from;
        expect(afterMs, `${what}: ${message}`).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 100);
        expect(afterMs, `${what}: ${message}`).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 2000);
      }));
      expectNoNewSession(before);
      await expectStillServes();
    });

    test(`an upstream silent after OPENED is dropped after the dead-peer time (${DEAD_AFTER_MS} ms)`, async () => {
      const peer = await at('opened', { answerPings: false });
      const from = performance.now();
      await peer.waitClosed(DEAD_AFTER_MS + 3000);
      const afterMs = peer.closedAt! - from;
      expect(afterMs).toBeGreaterThanOrEqual(DEAD_AFTER_MS - 300);
      expect(afterMs).toBeLessThan(DEAD_AFTER_MS + 2000);
      await expectStillServes();
    }, 15_000);
  });

  // -------------------------------------------------------------------------------
  describe('after WELCOME (authenticated)', () => {
    test(`a frame over ${DEFAULT_MAX_PAYLOAD} bytes: ERR_FRAME_TOO_LARGE from its header alone, before and after OPEN`, async () => {
      const before = sessionIds();
      const open = await at('open', { answerPings: false });
      const sentBefore = open.bytesOut;
      open.write(headerOnly(FRAME.OPEN, DEFAULT_MAX_PAYLOAD + 1));
      await expectRefused(open, 'ERR_FRAME_TOO_LARGE');
      expect(open.bytesOut - sentBefore).toBe(FRAME_HEADER_BYTES);
      expectNoNewSession(before);

      const opened = await at('opened', { answerPings: false });
      const sentBefore2 = opened.bytesOut;
      for (const length of [DEFAULT_MAX_PAYLOAD + 1, 0xffffffff]) {
        if (opened.isClosed) break;
        opened.write(headerOnly(FRAME.DATA, length));
      }
      await expectRefused(opened, 'ERR_FRAME_TOO_LARGE');
      expect(opened.bytesOut - sentBefore2).toBe(2 * FRAME_HEADER_BYTES);
      await expectStillServes();
    });

    test(`a DATA frame of exactly ${DEFAULT_MAX_PAYLOAD} bytes is within the limit`, async () => {
      const peer = await at('opened');
      const body = randomBytes(DEFAULT_MAX_PAYLOAD - 8);
      peer.write(dataFrame(1, body));
      peer.write(endFrame(2));
      await peer.until(FRAME.ACK, 10_000, (ack) => (ack.acks as Record<string, number>).n === 2);
      const session = [...sinks.values()].find((s) => s.bytes === body.byteLength && s.ended);
      expect(session).toBeDefined();
      peer.destroy();
      await expectStillServes();
    });

    test('a bad checksum on a sequenced frame: ERR_CHECKSUM', async () => {
      const peer = await at('opened');
      peer.write(dataFrame(1, Uint8Array.of(1, 2, 3)));
      peer.write(corruptChecksum(dataFrame(2, Uint8Array.of(4, 5, 6))));
      await expectRefused(peer, 'ERR_CHECKSUM');
      await expectStillServes();
    });

    test('an OPEN for an unknown group: ERR_UNKNOWN_GROUP; a malformed OPEN: ERR_PROTOCOL', async () => {
      const before = sessionIds();
      const unknown = await at('open');
      unknown.send(FRAME.OPEN, openMessage({ group: 'no-such-group', app: 'sink', origin: 'bad-client' }));
      const message = await expectRefused(unknown, 'ERR_UNKNOWN_GROUP');
      expect(message).toContain('no-such-group');

      const malformed: [string, Record<string, unknown>][] = [
        ['a bad group name', openMessage({ group: '../x', app: 'sink' })],
        ['no id', { ...openMessage({ group: 'sinkgrp', app: 'sink' }), id: undefined }],
        ['an empty id', openMessage({ group: 'sinkgrp', app: 'sink', id: '' })],
        ['a path that is not a list', { ...openMessage({ group: 'sinkgrp', app: 'sink' }), path: 'probe' }],
        ['a path of 65 nodes', openMessage({ group: 'sinkgrp', app: 'sink', path: Array.from({ length: 65 }, (_, i) => `p${i}`) })],
        ['meta that is not an object', { ...openMessage({ group: 'sinkgrp', app: 'sink' }), meta: [] }],
        ['a giveUpMs that is not an integer', { ...openMessage({ group: 'sinkgrp', app: 'sink' }), giveUpMs: 1.5 }],
        ['a loop (this node is on the path)', openMessage({ group: 'sinkgrp', app: 'sink', path: ['bad-client', 'n'] })],
        ['a loop (this node is the origin)', openMessage({ group: 'sinkgrp', app: 'sink', origin: 'n' })],
      ];
      await Promise.all(malformed.map(async ([what, body]) => {
        const peer = await at('open');
        peer.send(FRAME.OPEN, body);
        const fate = await peer.fate(3000);
        expect({ what, codes: fate.errors.map((e) => e.code), closed: fate.closed }).toEqual({ what, codes: ['ERR_PROTOCOL'], closed: true });
      }));
      expectNoNewSession(before);
      await expectStillServes();
    });

    test('a gap in sequence numbers, frame 0, or a frame too short for its number: ERR_PROTOCOL', async () => {
      const gap = await at('opened');
      gap.write(dataFrame(1, Uint8Array.of(1)));
      gap.write(dataFrame(3, Uint8Array.of(3)));
      const message = await expectRefused(gap, 'ERR_PROTOCOL');
      expect(message).toMatch(/frame 3 arrived before frame 2/);

      const zero = await at('opened');
      zero.write(dataFrame(0, Uint8Array.of(0)));
      await expectRefused(zero, 'ERR_PROTOCOL');

      const short = await at('opened');
      short.write(handFrame(FRAME.DATA, Uint8Array.of(0, 0, 0, 1)));
      await expectRefused(short, 'ERR_PROTOCOL');

      const first = await at('opened');
      first.write(dataFrame(2, Uint8Array.of(2)));
      await expectRefused(first, 'ERR_PROTOCOL');

      // A repeated frame is not a gap: it is ignored, and the session goes on.
      const again = await at('opened');
      again.write(dataFrame(1, Uint8Array.of(1)));
      again.write(dataFrame(1, Uint8Array.of(1)));
      again.write(endFrame(2));
      await again.until(FRAME.ACK, 5000, (ack) => (ack.acks as Record<string, number>).n === 2);
      expect(again.isClosed).toBe(false);
      again.destroy();
      await expectStillServes();
    });

    test('sessions a bad upstream left behind are swept, and hold no bytes meanwhile', async () => {
      await expectStillServes();
      for (const session of n.node.status().sessions) expect(session.retainedBytes, session.id).toBe(0);
      // lingerMs 500 for finished sessions, idleMs 2000 for unfinished ones; the sweep runs every second.
      await until(() => n.node.status().sessions.length === 0, 6000, 'every detached session to be swept');
    }, 15_000);
  });

  // -------------------------------------------------------------------------------
  describe('HTTP', () => {
    test('a body over 64 KiB is 400; exactly 64 KiB is fine', async () => {
      const limit = 64 * KiB;
      const body = (size: number, group: string) => {
        const base = JSON.stringify({ group, nexthop: 'n', pad: '' });
        return JSON.stringify({ group, nexthop: 'n', pad: 'z'.repeat(size - base.length) });
      };
      expect(body(limit, 'g').length).toBe(limit);

      const over = await httpCall(n.node.address, { method: 'POST', path: '/v1/routes', token, body: body(limit + 1, 'too-big') });
      expect(over.status).toBe(400);
      expect(over.json).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      const far = await httpCall(n.node.address, { method: 'POST', path: '/v1/routes', token, body: body(4 * MiB, 'far-too-big') });
      expect(far.status).toBe(400);
      expect(n.node.config.routing.has('too-big')).toBe(false);
      expect(n.node.config.routing.has('far-too-big')).toBe(false);

      const exact = await httpCall(n.node.address, { method: 'POST', path: '/v1/routes', token, body: body(limit, 'just-fits') });
      expect(exact.status).toBe(200);
      expect(n.node.config.routing.nextHops('just-fits')).toEqual(['n']);

      // Chunked, with no length given up front.
      const chunked = await new Promise<number>((resolve, reject) => {
        const [host, port] = n.node.address.split(':');
        const request = http.request({
          host, port: Number(port), method: 'POST', path: '/v1/routes', agent: false,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', reject);
        for (let i = 0; i < 80; i++) request.write('x'.repeat(KiB));
        request.end();
      });
      expect(chunked).toBe(400);
      await expectStillServes();
    });

    test('headers over the HTTP parser\'s limit are refused (431 or closed)', async () => {
      const peer = await connect();
      const chunks: Buffer[] = [];
      peer.socket.on('data', (c: Buffer) => chunks.push(c));
      peer.write(`GET /v1/status HTTP/1.1\r\nHost: n\r\nX-Big: ${'h'.repeat(64 * KiB)}\r\n\r\n`);
      await peer.waitClosed(5000);
      const answer = Buffer.concat(chunks).toString('latin1');
      if (answer) expect(answer).toMatch(/^HTTP\/1\.1 431 /);
      await expectStillServes();
    });

    // The node's http.Server never listens itself (connections are handed to it), so Node's
    // own headersTimeout never runs: the node keeps its own deadline for request headers.
    test('a client that stops after its request line is cut off by the headers timeout (10 s)', async () => {
      const peer = await connect();
      peer.write('GET /v1/status HTTP/1.1\r\n');
      try {
        await peer.waitClosed(13_000);
      } finally {
        peer.destroy();
      }
    }, 20_000);

    // NodeServer.close() must end HTTP connections itself: http.Server.closeAllConnections()
    // does nothing for a server that never listened.
    test('closing a node cuts off an HTTP client in the middle of its request', async () => {
      const m = await startNode('m');
      const peer = await RawPeer.connect(m.node.address);
      try {
        peer.write('GET /v1/status HTTP/1.1\r\n');
        await sleep(100);
        await withTimeout(m.node.close(), 3000, 'node.close() with an HTTP request half sent');
        await peer.waitClosed(1000);
      } finally {
        peer.destroy();
        await m.close();
      }
    }, 15_000);
  });
});

// ---------------------------------------------------------------------------------
// A destination that stops reading

describeNet('a destination that stops reading', () => {
  const nodes: TestNode[] = [];
  let fakeServer: net.Server | undefined;
  const fakes: RawPeer[] = [];

  afterAll(async () => {
    for (const fake of fakes) fake.destroy();
    await Promise.all(nodes.map((node) => node.close()));
    if (fakeServer) await new Promise<void>((resolve) => fakeServer!.close(() => resolve()));
  });

  test('the origin holds at most its window; the real destination gets everything; the stalled one is given up; the session ends', async () => {
    const windowBytes = 4 * MiB;
    const giveUpMs = 1500;
    const total = 64 * MiB;
    const chunk = 256 * KiB;

    // The fake destination: completes the handshake and the OPEN, then never reads again.
    const opens: Record<string, unknown>[] = [];
    fakeServer = net.createServer((socket) => {
      const fake = RawPeer.accepted(socket, { answerPings: false });
      fakes.push(fake);
      void (async () => {
        await serverHandshake(fake, { name: 'f' });
        opens.push(await fake.expect(FRAME.OPEN));
        fake.send(FRAME.OPENED, { have: 0 });
        fake.stopReading();
      })().catch(() => fake.destroy());
    });
    await new Promise<void>((resolve) => fakeServer!.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
    const fakeAddress = `127.0.0.1:${(fakeServer.address() as net.AddressInfo).port}`;

    const d = await startNode('d');
    nodes.push(d);
    let received = 0;
    let receivedCrc = 0;
    d.node.rcp.handle('sink', () => ({
      onData(body) {
        received += body.byteLength;
        receivedCrc = crc32(body, receivedCrc);
      },
    }));
    d.node.config.routing.add('wide', 'd');
    await d.node.config.save();

    const o = await startNode('o', { tuning: { windowBytes, giveUpMs } });
    nodes.push(o);
    await o.node.config.addPeer('d', d.node.address);
    await o.node.config.addPeer('f', fakeAddress);
    o.node.config.routing.add('wide', 'd');
    o.node.config.routing.add('wide', 'f');
    await o.node.config.save();

    const session = o.node.rcp.openSession({ group: 'wide', app: 'sink' });
    const started = performance.now();
    let maxRetained = 0;
    let failedAt: number | undefined;
    let samples = 0;
    const sample = () => {
      const info = o.node.status().sessions.find((s) => s.id === session.id);
      if (!info) return;
      samples++;
      maxRetained = Math.max(maxRetained, info.retainedBytes);
      if (failedAt === undefined && info.destinations.f?.status === 'failed') failedAt = performance.now();
    };
    const sampler = setInterval(sample, 5);
    let sentCrc = 0;
    let result;
    try {
      result = await withTimeout((async () => {
        for (let offset = 0; offset < total; offset += chunk) {
          const frame = session.allocData(chunk);
          for (let i = 0; i < chunk; i += 4096) frame.body[i] = (offset + i) & 0xff;
          sentCrc = crc32(frame.body, sentCrc);
          await session.sendAllocated(frame);
          sample();
        }
        return session.end();
      })(), 60_000, 'the 64 MiB session to end');
    } finally {
      clearInterval(sampler);
    }
    sample();

    // The window held, the whole time.
    expect(samples).toBeGreaterThan(50);
    expect(maxRetained).toBeLessThanOrEqual(windowBytes + chunk + 64);
    expect(maxRetained).toBeGreaterThan(windowBytes / 2);

    // The real destination has every byte; the stalled one was given up, after giveUpMs.
    expect(result.destinations.d).toEqual({ status: 'ok', acked: result.frames });
    expect(received).toBe(total);
    expect(receivedCrc).toBe(sentCrc);
    expect(result.destinations.f).toMatchObject({ status: 'failed' });
    expect(result.destinations.f!.error).toMatch(/acknowledged nothing new/);
    expect(failedAt).toBeDefined();
    expect(failedAt! - started).toBeGreaterThanOrEqual(giveUpMs - 100);
    expect(failedAt! - started).toBeLessThan(giveUpMs + 2000);
    expect(opens).toHaveLength(1);
    expect(opens[0]).toMatchObject({ group: 'wide', origin: 'o', app: 'sink', path: ['o'] });

    // The session ended and is forgotten.
    expect(o.node.status().sessions).toEqual([]);
    const status = await httpCall(o.node.address, { path: '/v1/status', token: await httpTokenOf(SECRET) });
    expect(status.json?.sessions).toEqual([]);
  }, 90_000);
});

// ---------------------------------------------------------------------------------
// A real node process

async function rssOf(pid: number): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB/m.exec(text);
    return match ? Number(match[1]) * KiB : undefined;
  } catch {
    return undefined;
  }
}

describeNet('a snapcopy serve process', () => {
  let dir: string;
  let node: NodeProcess;

  beforeAll(async () => {
    token = await httpTokenOf(SECRET);
    dir = await tempDir('snapcopy-victim-');
    const peersFile = await writePeers(dir, SECRET, {});
    node = await NodeProcess.start({ name: 'victim', port: 0, data: join(dir, 'data'), peers: peersFile });
  });

  afterAll(async () => {
    await stopAll();
    if (dir) await removeDir(dir);
  });

  test('keeps serving HTTP and RCP through a barrage of garbage, with bounded memory', async () => {
    const address = node.address;
    const route = await httpCall(address, { method: 'POST', path: '/v1/routes', token, body: JSON.stringify({ group: 'self', nexthop: 'victim' }) });
    expect(route.status).toBe(200);
    await rcpProbe(address, { nodeName: 'victim', group: 'self' });
    const rssBefore = await rssOf(node.pid!);

    const conns: { what: string; peer: RawPeer }[] = [];
    const open = async (what: string, answerPings = false) => {
      const peer = await RawPeer.connect(address, { answerPings });
      conns.push({ what, peer });
      return peer;
    };
    const barrage = async (round: number) => {
      const jobs: Promise<unknown>[] = [];
      for (let i = 0; i < 10; i++) jobs.push(open('junk').then((p) => p.write(randomBytes(1 + ((i * 7919) % (64 * KiB))))));
      for (let i = 0; i < 5; i++) jobs.push(open('long line').then((p) => p.write(`GET /${'a'.repeat(16 * KiB)}`)));
      for (let i = 0; i < 5; i++) jobs.push(open('huge frame').then((p) => p.write(Buffer.concat([Buffer.from('RCP/1.0\r\n'), headerOnly(FRAME.HELLO, 64 * MiB)]))));
      for (let i = 0; i < 5; i++) jobs.push(open('frame junk').then((p) => p.write(Buffer.concat([Buffer.from('RCP/1.0\r\n'), randomBytes(4 * KiB)]))));
      for (let i = 0; i < 5; i++) jobs.push(open('bad checksum').then((p) => {
        p.preambleLine();
        p.write(corruptChecksum(jsonFrame(FRAME.HELLO, { versions: [PROTOCOL_VERSION], node: 'x', nonce: randomNonce() })));
      }));
      for (let i = 0; i < 5; i++) jobs.push(open('wrong secret').then((p) => clientHandshake(p, { name: 'intruder', secret: WRONG_SECRET, expectWelcome: false })));
      for (let i = 0; i < 5; i++) jobs.push(open('bad HTTP').then((p) => p.write('GET /v1/status HTTP/1.1\r\n\x00\x01\x02 nonsense\r\n\r\n')));
      if (round === 0) for (let i = 0; i < 5; i++) jobs.push(open('idle'));
      await Promise.all(jobs);
    };
    const started = performance.now();
    for (let round = 0; round < 4; round++) {
      await barrage(round);
      // Good clients get through while the garbage is still arriving.
      const [status] = await Promise.all([
        httpCall(address, { path: '/v1/status', token }),
        rcpProbe(address, { nodeName: 'victim', group: 'self', bytes: 10_000 }),
      ]);
      expect(status.status).toBe(200);
    }

    // Every bad connection ends: at once, or (idle ones) at the 5 s first-line limit.
    await Promise.all(conns.map(({ peer }) => peer.waitClosed(SNIFF_TIMEOUT_MS + 5000).catch(() => undefined)));
    const open_ = conns.filter(({ peer }) => !peer.isClosed).map(({ what }) => what);
    expect(open_).toEqual([]);
    for (const { what, peer } of conns) {
      if (what === 'huge frame') expect(peer.received.map((f) => f.type)).toEqual([FRAME.ERROR]);
      if (what === 'idle') expect(peer.closedAt! - started).toBeLessThan(SNIFF_TIMEOUT_MS + 4000);
    }
    const codes = (what: string) => new Set(conns.filter((c) => c.what === what).flatMap(({ peer }) =>
      peer.received.filter((f) => f.type === FRAME.ERROR).map((f) => String(JSON.parse(Buffer.from(f.payload).toString()).code))));
    expect(codes('huge frame')).toEqual(new Set(['ERR_FRAME_TOO_LARGE']));
    expect(codes('bad checksum')).toEqual(new Set(['ERR_CHECKSUM']));
    expect(codes('wrong secret')).toEqual(new Set(['ERR_AUTH']));
    expect(codes('junk')).toEqual(new Set());

    // Still alive, still serving, and not holding on to what it was sent.
    expect(node.exited).toBe(false);
    const status = await httpCall(address, { path: '/v1/status', token });
    expect(status.status).toBe(200);
    expect(status.json?.name).toBe('victim');
    const probe = await rcpProbe(address, { nodeName: 'victim', group: 'self', bytes: 200_000 });
    expect(Buffer.compare(await readFile(join(dir, 'data', 'rcptest', probe.file)), probe.bytes)).toBe(0);
    const sessions = status.json?.sessions as { retainedBytes: number }[];
    for (const session of sessions) expect(session.retainedBytes).toBe(0);
    const rssAfter = await rssOf(node.pid!);
    if (rssBefore !== undefined && rssAfter !== undefined) expect(rssAfter - rssBefore).toBeLessThan(128 * MiB);
    expect(node.stderr).not.toMatch(/TypeError|RangeError|Unhandled|uncaught/i);
  }, 60_000);
});
