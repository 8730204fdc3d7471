// RcpService end to end with no sockets at all: nodes talk over in-memory connections
// (the Conn interface is all the RCP core needs), so these run in both projects, fast,
// and can look at what a forwarder hands to its next hops: the very buffers it received.
import { afterEach, describe, expect, test } from 'vitest';
import type { Conn, Dial } from '../../src/rcp/conn.js';
import { FRAME, FRAME_HEADER_BYTES } from '../../src/rcp/frame.js';
import { PREAMBLE } from '../../src/rcp/handshake.js';
import type { SessionApp } from '../../src/rcp/local.js';
import { RcpService } from '../../src/rcp/service.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SECRET = 'in-memory-secret-0123456789';

/** One end of an in-memory connection: what is written arrives at the other end, the same objects, in order. */
class MemoryConn implements Conn {
  peer!: MemoryConn;
  readonly written: Uint8Array[] = [];
  #data: ((chunk: Uint8Array) => void) | undefined;
  #close: ((error?: Error) => void) | undefined;
  #inbox: Uint8Array[] = [];
  #paused = false;
  #closed = false;
  queuedBytes = 0;
  /** Drop the first chunk received, which must be the RCP preamble (what the node's L5 filter consumes). */
  expectPreamble = false;

  constructor(readonly remote: string) {}

  write(bytes: Uint8Array, written?: () => void): boolean {
    if (this.#closed) return false;
    this.written.push(bytes);
    setImmediate(() => {
      written?.();
      this.peer.#receive(bytes);
    });
    return true;
  }

  #receive(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.expectPreamble) {
      this.expectPreamble = false;
      expect(new TextDecoder().decode(bytes)).toBe(PREAMBLE);
      return;
    }
    this.#inbox.push(bytes);
    this.#flush();
  }

  #flush(): void {
    while (!this.#paused && this.#data && this.#inbox.length > 0) this.#data(this.#inbox.shift()!);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#flush();
  }

  end(): void {
    setImmediate(() => this.destroy());
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#close?.();
    this.peer.destroy();
  }

  onData(listener: (chunk: Uint8Array) => void): void {
    this.#data = listener;
    this.#flush();
  }

  onDrain(): void {}

  onClose(listener: (error?: Error) => void): void {
    this.#close = listener;
  }
}

/** Nodes by address; dialing one makes a connection pair and hands the far end to its service past the preamble. */
class MemoryNetwork {
  readonly services = new Map<string, RcpService>();
  readonly down = new Set<string>();
  readonly conns: MemoryConn[] = [];

  dial: Dial = async (address) => {
    const service = this.services.get(address);
    if (!service || this.down.has(address)) throw Object.assign(new Error(`${address} is unreachable`), { code: 'ERR_UNREACHABLE' });
    const client = new MemoryConn(address);
    const server = new MemoryConn('client');
    client.peer = server;
    server.peer = client;
    this.conns.push(client, server);
    // The node's L5 filter reads the preamble line (the client's first write) before RCP sees the connection.
    server.expectPreamble = true;
    void service.accept(server);
    return client;
  };

  /** A node whose routing table is `routes`, delivering to `app` when it routes a group to itself. */
  node(name: string, routes: Record<string, string[]>, app?: (name: string) => SessionApp): RcpService {
    const service = new RcpService({
      name,
      secret: SECRET,
      dial: this.dial,
      nextHops: (group) => routes[group] ?? [],
      resolve: (hop) => ({ name: hop, address: hop }),
      tuning: { giveUpMs: 1500, coverAfterMs: 100, timers: { keepaliveMs: 50, deadAfterMs: 1000 } },
    });
    if (app) service.handle('test', () => app(name));
    this.services.set(name, service);
    return service;
  }

  /** Takes a node off the network: its connections break and new ones fail. */
  cut(name: string): void {
    this.down.add(name);
    for (const conn of this.conns) if (conn.remote === name) conn.destroy();
  }

  close(): void {
    for (const service of this.services.values()) service.close();
  }
}

/** An application that keeps what it receives, in order, copying each body (bodies are recycled). */
function collector(store: Received) {
  return (name: string): SessionApp => {
    const got = { control: [] as unknown[], data: [] as Uint8Array[], ended: false };
    store.set(name, got);
    return {
      onControl: (body) => void got.control.push(JSON.parse(new TextDecoder().decode(body))),
      onData: (body) => void got.data.push(new Uint8Array(body)),
      onEnd: () => void (got.ended = true),
    };
  };
}

const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));

type Received = Map<string, { control: unknown[]; data: Uint8Array[]; ended: boolean }>;

let network: MemoryNetwork;
afterEach(() => network?.close());

/** O → F → A, B on a fresh network: F forwards, A and B keep what they receive. */
function forwarderTree(): { origin: RcpService; got: Received } {
  network = new MemoryNetwork();
  const got: Received = new Map();
  const origin = network.node('O', { g: ['F'] });
  network.node('F', { g: ['A', 'B'] });
  network.node('A', { g: ['A'] }, collector(got));
  network.node('B', { g: ['B'] }, collector(got));
  return { origin, got };
}

describe('RcpService over in-memory connections', () => {
  test('origin → forwarder → two leaves: every leaf gets every block in order, and the origin learns it', async () => {
    const seed = testSeed('rcp-service');
    const prng = new Prng(seed);
    const { origin, got } = forwarderTree();

    const session = origin.openSession({ group: 'g', app: 'test' });
    await session.sendControl({ hello: 'leaves' });
    const blocks: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const block = new Uint8Array(prng.int(0, 70_000));
      for (let j = 0; j < block.length; j++) block[j] = prng.u32() & 0xff;
      blocks.push(block);
      await session.sendData(block);
    }
    const result = await session.end();

    expect(result.destinations).toEqual({ A: { status: 'ok', acked: 42 }, B: { status: 'ok', acked: 42 } });
    for (const leaf of ['A', 'B']) {
      const g = got.get(leaf)!;
      expect(g.control).toEqual([{ hello: 'leaves' }]);
      expect(g.ended).toBe(true);
      expect(Buffer.compare(concat(g.data), concat(blocks))).toBe(0);
    }
  });

  test('a forwarder passes on the buffers it received: both next hops are handed the same bytes, not copies', async () => {
    const { origin } = forwarderTree();
    const session = origin.openSession({ group: 'g', app: 'test' });
    for (let i = 0; i < 5; i++) await session.sendData(new Uint8Array(1000).fill(i));
    await session.end();

    // What F wrote to A and to B: every data frame is one buffer, the same object on both sides.
    const fromF = (to: string) => network.conns.filter((c) => c.remote === to).flatMap((c) => c.written)
      .filter((raw) => raw.byteLength > FRAME_HEADER_BYTES && raw[4] === FRAME.DATA);
    const toA = fromF('A');
    const toB = fromF('B');
    expect(toA.length).toBe(5);
    expect(toB.length).toBe(5);
    for (let i = 0; i < 5; i++) expect(toA[i]).toBe(toB[i]);
  });

  test('a group unknown at the forwarder comes back as ERR_UNKNOWN_GROUP for that subtree', async () => {
    network = new MemoryNetwork();
    const got: Received = new Map();
    const origin = network.node('O', { g: ['F', 'A'] });
    network.node('F', {});
    network.node('A', { g: ['A'] }, collector(got));
    const session = origin.openSession({ group: 'g', app: 'test' });
    await session.sendData(new Uint8Array([1, 2, 3]));
    const result = await session.end();
    expect(result.destinations.A).toEqual({ status: 'ok', acked: 2 });
    expect(result.destinations.F).toMatchObject({ status: 'failed', acked: 0 });
    expect(result.destinations.F!.error).toBe('F: node F has no route for group g [ERR_UNKNOWN_GROUP]');
    expect(() => origin.openSession({ group: 'nope', app: 'test' })).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_GROUP' }));
  });

  test('a forwarder cut off mid-session is covered for; a leaf that is gone is given up and the rest finish', async () => {
    const { origin, got } = forwarderTree();
    const session = origin.openSession({ group: 'g', app: 'test' });
    const blocks = Array.from({ length: 30 }, (_, i) => new Uint8Array(5000).fill(i));
    for (const block of blocks.slice(0, 10)) await session.sendData(block);
    await session.acknowledged(10);
    network.cut('F');
    network.cut('B');
    for (const block of blocks.slice(10)) await session.sendData(block);
    const result = await session.end();

    expect(result.destinations.A).toEqual({ status: 'ok', acked: 31 });
    expect(result.destinations.B).toMatchObject({ status: 'failed' });
    expect(result.hops.find((h) => h.name === 'A')?.coveringFor).toBe('F');
    expect(Buffer.compare(concat(got.get('A')!.data), concat(blocks))).toBe(0);
  });
});
