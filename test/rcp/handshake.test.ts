// The RCP/1.0 handshake (src/rcp/handshake.ts) between two Links in this process over a
// real TCP connection on 127.0.0.1: matching secrets succeed both ways and each side
// learns the other's name; a wrong secret fails on both sides with ERR_AUTH, whichever
// side holds it (the client checks the server's proof as well); an unknown version is
// ERR_VERSION; a captured AUTH replayed on a new connection, or the server's own proof
// reflected back, is refused (the nonces differ, the roles differ); a server that is not
// the node the client expects is ERR_AUTH. Where one side must misbehave it is a raw
// peer (test/helpers/rcp-client.ts) speaking the wire format by hand.

import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SnapcopyError } from '../../src/errors.js';
import { socketConn } from '../../src/node/tcp.js';
import { proofOf } from '../../src/rcp/auth.js';
import { FRAME, HANDSHAKE_MAX_PAYLOAD } from '../../src/rcp/frame.js';
import { clientHandshake, PREAMBLE, PROTOCOL_VERSION, serverHandshake } from '../../src/rcp/handshake.js';
import { DEFAULT_TIMERS, Link } from '../../src/rcp/link.js';
import { jsonFrame } from '../../src/rcp/messages.js';
import {
  RawPeer, SECRET, WRONG_SECRET, authFrame, clientHandshake as rawClientHandshake, randomNonce, sendHello,
  serverHandshake as rawServerHandshake, settle, withTimeout,
} from '../helpers/rcp-client.js';

const describeNet = process.env.SNAPCOPY_KERNELS !== 'wasm' ? describe.skip : describe;

const TIMEOUT_MS = 3000;

// ---------------------------------------------------------------------------------
// A listener whose accepted sockets are handed out in order

let server: net.Server;
let port = 0;
const accepted: net.Socket[] = [];
const acceptWaiters: ((socket: net.Socket) => void)[] = [];
const links = new Set<Link>();
const peers = new Set<RawPeer>();

function nextAccepted(): Promise<net.Socket> {
  const socket = accepted.shift();
  if (socket) return Promise.resolve(socket);
  return withTimeout(new Promise((resolve) => acceptWaiters.push(resolve)), 5000, 'an accepted connection');
}

function newLink(socket: net.Socket): Link {
  const link = new Link(socketConn(socket), { maxPayload: HANDSHAKE_MAX_PAYLOAD, timers: DEFAULT_TIMERS });
  links.add(link);
  return link;
}

function dial(): Promise<net.Socket> {
  return withTimeout(new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  }), 5000, 'dialing the test listener');
}

/** Reads the preamble line off an accepted socket (as the node's L5 filter does), leaving what follows unread. */
function readPreamble(socket: net.Socket): Promise<string> {
  return withTimeout(new Promise((resolve, reject) => {
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const end = seen.indexOf(0x0a);
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      if (seen.byteLength > end + 1) socket.unshift(seen.subarray(end + 1));
      resolve(seen.subarray(0, end + 1).toString('latin1'));
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('closed before the preamble')));
  }), 5000, 'the preamble');
}

/** The server side of a connection: a Link once the preamble is read, and its handshake's outcome. */
async function serveOne(options: { name: string; secret: string; timeoutMs?: number }) {
  const socket = await nextAccepted();
  const preamble = await readPreamble(socket);
  const link = newLink(socket);
  const outcome = await settle(serverHandshake(link, { name: options.name, secret: options.secret, timeoutMs: options.timeoutMs ?? TIMEOUT_MS }));
  return { preamble, link, outcome };
}

/** The client side: a Link on a fresh connection and its handshake's outcome. */
async function dialOne(options: { name: string; secret: string; expectPeer?: string; timeoutMs?: number }) {
  const link = newLink(await dial());
  const outcome = await settle(clientHandshake(link, {
    name: options.name, secret: options.secret, timeoutMs: options.timeoutMs ?? TIMEOUT_MS, expectPeer: options.expectPeer,
  }));
  return { link, outcome };
}

async function rawPeer(options: { answerPings?: boolean } = {}): Promise<RawPeer> {
  const peer = await RawPeer.connect(port, options);
  peers.add(peer);
  return peer;
}

async function acceptedRawPeer(): Promise<RawPeer> {
  const peer = RawPeer.accepted(await nextAccepted());
  peers.add(peer);
  return peer;
}

beforeAll(async () => {
  server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    const waiter = acceptWaiters.shift();
    if (waiter) waiter(socket);
    else accepted.push(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  port = (server.address() as net.AddressInfo).port;
});

afterEach(() => {
  for (const link of links) link.destroy(new SnapcopyError('ERR_CLOSED', 'test over'));
  links.clear();
  for (const peer of peers) peer.destroy();
  peers.clear();
  for (const socket of accepted.splice(0)) socket.destroy();
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function codeOf(outcome: { ok: boolean; error?: { code?: string } }): string | undefined {
  return outcome.ok ? undefined : outcome.error?.code;
}

// ---------------------------------------------------------------------------------

describeNet('RCP handshake', () => {
  test('matching secrets: both sides succeed and learn each other\'s names', async () => {
    const [serverSide, clientSide] = await Promise.all([
      serveOne({ name: 'srv-1', secret: SECRET }),
      dialOne({ name: 'cli-1', secret: SECRET }),
    ]);
    expect(serverSide.preamble).toBe(PREAMBLE);
    expect(serverSide.outcome).toEqual({ ok: true, value: 'cli-1' });
    expect(clientSide.outcome).toEqual({ ok: true, value: 'srv-1' });
    expect(serverSide.link.peer).toBe('cli-1');
    expect(clientSide.link.peer).toBe('srv-1');
    expect(serverSide.link.closed).toBe(false);
    expect(clientSide.link.closed).toBe(false);

    // The links carry frames after the handshake, both ways.
    const got = { server: [] as number[], client: [] as number[] };
    serverSide.link.attach({ onFrame: (f) => got.server.push(f.type), onClose: () => undefined });
    clientSide.link.attach({ onFrame: (f) => got.client.push(f.type), onClose: () => undefined });
    clientSide.link.sendJson(FRAME.OPEN, { hello: 'server' });
    serverSide.link.sendJson(FRAME.OPENED, { have: 0 });
    await withTimeout((async () => {
      while (got.server.length === 0 || got.client.length === 0) await new Promise((r) => setTimeout(r, 5));
    })(), 3000, 'frames after the handshake');
    expect(got).toEqual({ server: [FRAME.OPEN], client: [FRAME.OPENED] });
  });

  test('the roles swapped succeed too, and every connection uses fresh nonces', async () => {
    const [serverSide, clientSide] = await Promise.all([
      serveOne({ name: 'cli-1', secret: SECRET }),
      dialOne({ name: 'srv-1', secret: SECRET }),
    ]);
    expect(serverSide.outcome).toEqual({ ok: true, value: 'srv-1' });
    expect(clientSide.outcome).toEqual({ ok: true, value: 'cli-1' });

    const serverNonces = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const peer = await rawPeer();
      const [served, result] = await Promise.all([serveOne({ name: 'srv-n', secret: SECRET }), rawClientHandshake(peer, { name: `raw-${i}` })]);
      expect(served.outcome).toEqual({ ok: true, value: `raw-${i}` });
      expect(result.serverNonce).toMatch(/^[0-9a-f]{32}$/);
      serverNonces.add(result.serverNonce);
    }
    expect(serverNonces.size).toBe(3);
  });

  test('wrong secret at the client: the server sends ERROR ERR_AUTH and both sides fail with ERR_AUTH', async () => {
    // A raw client does not check the server's proof; it sends AUTH made with the wrong secret.
    const peer = await rawPeer();
    const [serverSide, sent] = await Promise.all([
      serveOne({ name: 'srv-2', secret: SECRET }),
      rawClientHandshake(peer, { name: 'intruder', secret: WRONG_SECRET, expectWelcome: false }),
    ]);
    expect(sent.serverName).toBe('srv-2');
    expect(codeOf(serverSide.outcome)).toBe('ERR_AUTH');
    expect(serverSide.link.closed).toBe(true);
    const error = await peer.expectError(TIMEOUT_MS);
    expect(error.code).toBe('ERR_AUTH');
    await peer.waitClosed(TIMEOUT_MS);
    expect(peer.received.filter((f) => f.type === FRAME.WELCOME)).toEqual([]);
  });

  test('wrong secret, two Links: the client refuses the server\'s proof, and both fail with ERR_AUTH', async () => {
    const [serverSide, clientSide] = await Promise.all([
      serveOne({ name: 'srv-3', secret: SECRET }),
      dialOne({ name: 'cli-3', secret: WRONG_SECRET }),
    ]);
    expect(codeOf(clientSide.outcome)).toBe('ERR_AUTH');
    expect(codeOf(serverSide.outcome)).toBe('ERR_AUTH');
    expect(clientSide.link.closed).toBe(true);
    expect(serverSide.link.closed).toBe(true);
  });

  test('a server with the wrong secret is refused by the client, which never sends AUTH', async () => {
    const [fake, clientSide] = await Promise.all([
      (async () => {
        const peer = await acceptedRawPeer();
        const outcome = await settle(rawServerHandshake(peer, { name: 'impostor', secret: SECRET, proofSecret: WRONG_SECRET }));
        return { peer, outcome };
      })(),
      dialOne({ name: 'cli-4', secret: SECRET }),
    ]);
    expect(codeOf(clientSide.outcome)).toBe('ERR_AUTH');
    expect(clientSide.outcome.ok ? '' : clientSide.outcome.error.message).toMatch(/impostor/);
    // The fake server gets an ERROR ERR_AUTH instead of an AUTH, then the close.
    expect(fake.outcome.ok).toBe(false);
    expect(fake.peer.preamble).toBe(PREAMBLE);
    const types = fake.peer.received.map((f) => f.type).filter((t) => t !== FRAME.PING && t !== FRAME.PONG);
    expect(types).toEqual([FRAME.HELLO, FRAME.ERROR]);
    const { errors } = await fake.peer.fate(TIMEOUT_MS);
    expect(errors.map((e) => e.code)).toEqual(['ERR_AUTH']);
    expect(fake.peer.isClosed).toBe(true);
  });

  test('an unknown or old version (1: CRC-32 frames): the server answers ERROR ERR_VERSION and fails with ERR_VERSION', async () => {
    const offers: Record<string, unknown>[] = [{ versions: [1] }, { versions: [3] }, { versions: [0, 1, 3] }, { versions: [] }, { versions: '1' }, { versions: 1 }, {}];
    for (const offer of offers) {
      const versions = offer.versions;
      const peer = await rawPeer();
      const hello = jsonFrame(FRAME.HELLO, { ...offer, node: 'future', nonce: randomNonce() });
      const [serverSide] = await Promise.all([serveOne({ name: 'srv-5', secret: SECRET }), Promise.resolve(sendHello(peer, { helloFrame: hello }))]);
      expect(codeOf(serverSide.outcome), JSON.stringify(versions)).toBe('ERR_VERSION');
      const error = await peer.expectError(TIMEOUT_MS);
      expect(error.code).toBe('ERR_VERSION');
      await peer.waitClosed(TIMEOUT_MS);
      expect(peer.received.some((f) => f.type === FRAME.CHALLENGE)).toBe(false);
    }
  });

  test('a HELLO offering several versions including this one is accepted', async () => {
    const peer = await rawPeer();
    const nonce = randomNonce();
    const [serverSide, challenge] = await Promise.all([
      serveOne({ name: 'srv-6', secret: SECRET }),
      (async () => {
        sendHello(peer, { name: 'multi', nonce, versions: [3, 1, PROTOCOL_VERSION] });
        const value = await peer.expect(FRAME.CHALLENGE, TIMEOUT_MS);
        const names = { clientName: 'multi', serverName: 'srv-6', clientNonce: nonce, serverNonce: String(value.nonce) };
        peer.write(await authFrame(SECRET, names));
        await peer.expect(FRAME.WELCOME, TIMEOUT_MS);
        return value;
      })(),
    ]);
    expect(challenge.version).toBe(PROTOCOL_VERSION);
    expect(serverSide.outcome).toEqual({ ok: true, value: 'multi' });
  });

  // The client offers [1]; a CHALLENGE naming another version is a server choosing what was not offered.
  test('a client refuses a CHALLENGE for a version it did not offer: ERR_VERSION, and no AUTH is sent', async () => {
    for (const version of [1, 3, 0, '2', undefined]) {
      const [fake, clientSide] = await Promise.all([
        (async () => {
          const peer = await acceptedRawPeer();
          await settle(rawServerHandshake(peer, { name: 'srv-v2', version }));
          return peer;
        })(),
        dialOne({ name: 'cli-v', secret: SECRET }),
      ]);
      expect(codeOf(clientSide.outcome), JSON.stringify(version)).toBe('ERR_VERSION');
      const { errors } = await fake.fate(TIMEOUT_MS);
      expect(errors.map((e) => e.code)).toEqual(['ERR_VERSION']);
      expect(fake.received.some((f) => f.type === FRAME.AUTH)).toBe(false);
    }
  });

  test('an AUTH captured on one connection and replayed on another is refused (the nonces differ)', async () => {
    // Connection 1: a client that knows the secret; its HELLO and AUTH bytes are captured.
    const honest = await rawPeer();
    const [first, captured] = await Promise.all([
      serveOne({ name: 'srv-7', secret: SECRET }),
      rawClientHandshake(honest, { name: 'honest' }),
    ]);
    expect(first.outcome).toEqual({ ok: true, value: 'honest' });

    // Connection 2: an attacker without the secret replays HELLO and AUTH byte for byte.
    const attacker = await rawPeer();
    const [second, replay] = await Promise.all([
      serveOne({ name: 'srv-7', secret: SECRET }),
      (async () => {
        sendHello(attacker, { helloFrame: captured.helloFrame });
        const challenge = await attacker.expect(FRAME.CHALLENGE, TIMEOUT_MS);
        attacker.write(captured.authFrame);
        return challenge;
      })(),
    ]);
    expect(replay.nonce).not.toBe(captured.serverNonce);
    expect(codeOf(second.outcome)).toBe('ERR_AUTH');
    expect((await attacker.expectError(TIMEOUT_MS)).code).toBe('ERR_AUTH');
    await attacker.waitClosed(TIMEOUT_MS);
  });

  test('the server\'s own proof reflected back as AUTH is refused (the roles differ)', async () => {
    const attacker = await rawPeer();
    const [serverSide] = await Promise.all([
      serveOne({ name: 'srv-8', secret: SECRET }),
      (async () => {
        sendHello(attacker, { name: 'mirror' });
        const challenge = await attacker.expect(FRAME.CHALLENGE, TIMEOUT_MS);
        attacker.send(FRAME.AUTH, { proof: challenge.proof });
      })(),
    ]);
    expect(codeOf(serverSide.outcome)).toBe('ERR_AUTH');
    expect((await attacker.expectError(TIMEOUT_MS)).code).toBe('ERR_AUTH');
  });

  test('a proof for another client name is refused (names are bound into the proof)', async () => {
    const attacker = await rawPeer();
    const nonce = randomNonce();
    const [serverSide] = await Promise.all([
      serveOne({ name: 'srv-9', secret: SECRET }),
      (async () => {
        sendHello(attacker, { name: 'alice', nonce });
        const challenge = await attacker.expect(FRAME.CHALLENGE, TIMEOUT_MS);
        const proof = await proofOf(SECRET, { role: 'client', clientName: 'mallory', serverName: 'srv-9', clientNonce: nonce, serverNonce: String(challenge.nonce) });
        attacker.send(FRAME.AUTH, { proof });
      })(),
    ]);
    expect(codeOf(serverSide.outcome)).toBe('ERR_AUTH');
  });

  test('expectPeer mismatch: the client refuses with ERR_AUTH and the server sees ERR_AUTH', async () => {
    const [serverSide, clientSide] = await Promise.all([
      serveOne({ name: 'srv-10', secret: SECRET }),
      dialOne({ name: 'cli-10', secret: SECRET, expectPeer: 'someone-else' }),
    ]);
    expect(codeOf(clientSide.outcome)).toBe('ERR_AUTH');
    expect(clientSide.outcome.ok ? '' : clientSide.outcome.error.message).toMatch(/someone-else/);
    expect(codeOf(serverSide.outcome)).toBe('ERR_AUTH');

    // And a matching expectPeer is fine.
    const [okServer, okClient] = await Promise.all([
      serveOne({ name: 'srv-10', secret: SECRET }),
      dialOne({ name: 'cli-10', secret: SECRET, expectPeer: 'srv-10' }),
    ]);
    expect(okServer.outcome.ok).toBe(true);
    expect(okClient.outcome).toEqual({ ok: true, value: 'srv-10' });
  });

  test.each([
    ['a bad node name', { node: 'no spaces allowed', nonce: 'a'.repeat(32), versions: [PROTOCOL_VERSION] }],
    ['a short nonce', { node: 'short', nonce: 'a'.repeat(15), versions: [PROTOCOL_VERSION] }],
    ['a long nonce', { node: 'long', nonce: 'a'.repeat(129), versions: [PROTOCOL_VERSION] }],
    ['no nonce', { node: 'none', versions: [PROTOCOL_VERSION] }],
    ['a numeric node', { node: 7, nonce: 'a'.repeat(32), versions: [PROTOCOL_VERSION] }],
  ])('a HELLO with %s is ERR_PROTOCOL', async (_what, hello) => {
    const peer = await rawPeer();
    const [serverSide] = await Promise.all([
      serveOne({ name: 'srv-11', secret: SECRET }),
      Promise.resolve(sendHello(peer, { helloFrame: jsonFrame(FRAME.HELLO, hello) })),
    ]);
    expect(codeOf(serverSide.outcome)).toBe('ERR_PROTOCOL');
    expect((await peer.expectError(TIMEOUT_MS)).code).toBe('ERR_PROTOCOL');
  });

  test('a frame other than the expected one is ERR_PROTOCOL on both sides of the handshake', async () => {
    // Server expects HELLO, gets AUTH.
    const peer = await rawPeer();
    const [serverSide] = await Promise.all([
      serveOne({ name: 'srv-12', secret: SECRET }),
      (async () => {
        peer.preambleLine();
        peer.send(FRAME.AUTH, { proof: 'x' });
      })(),
    ]);
    expect(codeOf(serverSide.outcome)).toBe('ERR_PROTOCOL');
    expect((await peer.expectError(TIMEOUT_MS)).code).toBe('ERR_PROTOCOL');

    // Client expects CHALLENGE, gets WELCOME.
    const [fake, clientSide] = await Promise.all([
      (async () => {
        const p = await acceptedRawPeer();
        await p.expect(FRAME.HELLO, TIMEOUT_MS);
        p.send(FRAME.WELCOME, {});
        return p;
      })(),
      dialOne({ name: 'cli-12', secret: SECRET }),
    ]);
    expect(codeOf(clientSide.outcome)).toBe('ERR_PROTOCOL');
    const { errors } = await fake.fate(TIMEOUT_MS);
    expect(errors.map((e) => e.code)).toEqual(['ERR_PROTOCOL']);
  });

  test('silence: each side gives up with ERR_TIMEOUT after its handshake timeout and tells the peer', async () => {
    // A server whose client says nothing after the preamble.
    const quiet = await rawPeer({ answerPings: false });
    const started = performance.now();
    const [serverSide] = await Promise.all([serveOne({ name: 'srv-13', secret: SECRET, timeoutMs: 400 }), Promise.resolve(quiet.preambleLine())]);
    const elapsed = performance.now() - started;
    expect(codeOf(serverSide.outcome)).toBe('ERR_TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(350);
    expect(elapsed).toBeLessThan(2500);
    expect((await quiet.expectError(TIMEOUT_MS)).code).toBe('ERR_TIMEOUT');

    // A client whose server never answers HELLO.
    const [fake, clientSide] = await Promise.all([
      acceptedRawPeer(),
      dialOne({ name: 'cli-13', secret: SECRET, timeoutMs: 400 }),
    ]);
    expect(codeOf(clientSide.outcome)).toBe('ERR_TIMEOUT');
    const { errors } = await fake.fate(TIMEOUT_MS);
    expect(errors.map((e) => e.code)).toEqual(['ERR_TIMEOUT']);
  });

  test('an ERROR from the peer during the handshake fails it with the peer\'s code', async () => {
    const peer = await rawPeer();
    const [serverSide] = await Promise.all([
      serveOne({ name: 'srv-14', secret: SECRET }),
      (async () => {
        sendHello(peer, { name: 'quitter' });
        await peer.expect(FRAME.CHALLENGE, TIMEOUT_MS);
        peer.send(FRAME.ERROR, { code: 'ERR_VERSION', message: 'changed my mind' });
      })(),
    ]);
    expect(codeOf(serverSide.outcome)).toBe('ERR_VERSION');
    expect(serverSide.outcome.ok ? '' : serverSide.outcome.error.message).toMatch(/changed my mind/);
  });
});
