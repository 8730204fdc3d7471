// Tests of the network test helpers themselves (test/helpers/net.ts), against small
// servers made here with node:net and fake "serve" children made with a --import
// preload, so they pass whether or not `snapcopy serve` exists yet. Running the real
// serve command is left to the node server's own tests.

import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import net, { type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NodeProcess, TcpProxy, freePorts, removeDir, runCli, stopAll, tempDir, writePeers } from './net.js';

const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------
// Small bounded helpers

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 10 ms for at most `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(10);
  }
}

interface TestServer {
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** The next accepted socket (in accept order). */
  next(): Promise<Socket>;
  close(): Promise<void>;
}

/** A server on 127.0.0.1:0 calling `handler` for each connection. */
async function startServer(handler: (socket: Socket) => void = () => {}): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const ready: Socket[] = [];
  const waiting: Array<(socket: Socket) => void> = [];
  const server: Server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    result.accepted++;
    handler(socket);
    const waiter = waiting.shift();
    if (waiter) waiter(socket);
    else ready.push(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const result: TestServer = {
    port: (server.address() as net.AddressInfo).port,
    accepted: 0,
    next: () =>
      withTimeout(
        ready.length > 0 ? Promise.resolve(ready.shift()!) : new Promise<Socket>((resolve) => waiting.push(resolve)),
        5000,
        'a connection at the test server',
      ),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return result;
}

/** Echoes everything back and ends when the client ends. */
const echo = (socket: Socket) => socket.pipe(socket);

function connect(port: number): Promise<Socket> {
  return withTimeout(
    new Promise<Socket>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    }),
    5000,
    `connect to ${port}`,
  );
}

/** Reads exactly `n` bytes (failing on close or after `ms`). */
function readBytes(socket: Socket, n: number, ms = 10_000): Promise<Buffer> {
  return withTimeout(
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        got += chunk.length;
        if (got >= n) {
          cleanup();
          const all = Buffer.concat(chunks);
          if (got > n) socket.unshift(all.subarray(n));
          resolve(all.subarray(0, n));
        }
      };
      const onClose = () => {
        cleanup();
        reject(new Error(`socket closed after ${got} of ${n} bytes`));
      };
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('close', onClose);
        socket.off('end', onClose);
        socket.pause();
      };
      socket.on('data', onData);
      socket.on('close', onClose);
      socket.on('end', onClose);
      socket.resume();
    }),
    ms,
    `reading ${n} bytes`,
  );
}

/** Everything until the end of stream or close. */
function readAll(socket: Socket, ms = 10_000): Promise<Buffer> {
  return withTimeout(
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', () => {});
      const done = () => resolve(Buffer.concat(chunks));
      socket.once('end', done);
      socket.once('close', done);
      socket.resume();
    }),
    ms,
    'reading to the end',
  );
}

function closed(socket: Socket, ms = 5000): Promise<void> {
  socket.on('error', () => {});
  if (socket.destroyed) return Promise.resolve();
  return withTimeout(new Promise<void>((resolve) => socket.once('close', () => resolve())), ms, 'socket close');
}

// Everything a test opened, closed after it.
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await stopAll();
});

async function server(handler?: (socket: Socket) => void): Promise<TestServer> {
  const s = await startServer(handler);
  cleanups.push(() => s.close());
  return s;
}

async function proxyTo(port: number): Promise<TcpProxy> {
  const proxy = await TcpProxy.start({ target: `127.0.0.1:${port}` });
  cleanups.push(() => proxy.close());
  return proxy;
}

async function client(port: number): Promise<Socket> {
  const socket = await connect(port);
  socket.on('error', () => {});
  cleanups.push(() => socket.destroy());
  return socket;
}

// ---------------------------------------------------------------------------------

describe('freePorts', () => {
  it('gives distinct free ports on 127.0.0.1', async () => {
    const ports = await freePorts(8);
    expect(ports).toHaveLength(8);
    expect(new Set(ports).size).toBe(8);
    for (const port of ports) {
      expect(Number.isInteger(port) && port > 0 && port < 65536).toBe(true);
    }
    // They are free: each can be listened on.
    const s = net.createServer();
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen({ host: '127.0.0.1', port: ports[0] }, () => resolve());
    });
    await new Promise<void>((resolve) => s.close(() => resolve()));
    expect(await freePorts(0)).toEqual([]);
  });
});

describe('TcpProxy', () => {
  it('forwards random bytes exactly, both ways, with exact counters', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target.port);
    expect(proxy.address).toBe(`127.0.0.1:${proxy.port}`);
    const socket = await client(proxy.port);
    const data = randomBytes(3 * MiB + 12345);
    const reading = readBytes(socket, data.length);
    for (let at = 0; at < data.length; ) {
      const size = 1 + ((at * 7919) % 200_000);
      socket.write(data.subarray(at, at + size));
      at += size;
    }
    expect((await reading).equals(data)).toBe(true);
    socket.end();
    expect((await readAll(socket)).length).toBe(0);
    expect(proxy.bytesUp).toBe(data.length);
    expect(proxy.bytesDown).toBe(data.length);
    expect(proxy.connections).toBe(1);
    await until(() => proxy.openConnections === 0, 5000, 'the proxied connection to finish');
  });

  it('counts each direction separately and carries half-closes', async () => {
    const up = randomBytes(70_001);
    const down = randomBytes(123_457);
    let received: Buffer | undefined;
    const target = await server((socket) => {
      void readAll(socket).then((all) => {
        received = all;
        socket.end(down);
      });
    });
    const proxy = await proxyTo(target.port);
    const socket = await client(proxy.port);
    const reading = readAll(socket);
    socket.end(up);
    const got = await reading;
    expect(received?.equals(up)).toBe(true);
    expect(got.equals(down)).toBe(true);
    expect(proxy.bytesUp).toBe(up.length);
    expect(proxy.bytesDown).toBe(down.length);
  });

  it('cut() closes both sides and still accepts new connections', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target.port);
    const socket = await client(proxy.port);
    socket.write('ping');
    expect((await readBytes(socket, 4)).toString()).toBe('ping');
    const far = await target.next();
    proxy.cut();
    await Promise.all([closed(socket), closed(far)]);
    expect(proxy.openConnections).toBe(0);

    const again = await client(proxy.port);
    again.write('pong');
    expect((await readBytes(again, 4)).toString()).toBe('pong');
    expect(proxy.connections).toBe(2);
    expect(target.accepted).toBe(2);

    // With a reset the client sees ECONNRESET.
    const far2 = await target.next();
    const errored = new Promise<string | undefined>((resolve) => again.once('error', (e: NodeJS.ErrnoException) => resolve(e.code)));
    proxy.cut({ reset: true });
    await Promise.all([closed(again), closed(far2)]);
    expect(await withTimeout(errored, 5000, 'ECONNRESET')).toBe('ECONNRESET');
  });

  it('setDelay delays every chunk by at least the delay, both ways', async () => {
    const DELAY = 100;
    const target = await server();
    const proxy = await proxyTo(target.port);
    const socket = await client(proxy.port);
    socket.write('x'); // the connection is up before the delay is set
    const far = await target.next();
    expect((await readBytes(far, 1)).toString()).toBe('x');
    proxy.setDelay(DELAY);
    expect(proxy.delay).toBe(DELAY);

    const upSent = performance.now();
    socket.write('up');
    await readBytes(far, 2);
    expect(performance.now() - upSent).toBeGreaterThanOrEqual(DELAY);

    const downSent = performance.now();
    far.write('down');
    await readBytes(socket, 4);
    expect(performance.now() - downSent).toBeGreaterThanOrEqual(DELAY);

    proxy.setDelay(0);
    socket.write('now');
    expect((await readBytes(far, 3)).toString()).toBe('now');
  });

  it('setDelay keeps the order, also when the delay changes mid-stream', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target.port);
    const socket = await client(proxy.port);
    const messages: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const message = Buffer.alloc(4 + (i % 17) * 97);
      message.fill(i & 0xff);
      message.writeUInt32BE(i, 0);
      messages.push(message);
    }
    const expected = Buffer.concat(messages);
    const reading = readBytes(socket, expected.length);
    const delays = [30, 0, 10, 1, 25, 0];
    for (let i = 0; i < messages.length; i++) {
      if (i % 50 === 0) proxy.setDelay(delays[i / 50]!);
      socket.write(messages[i]!);
      if (i % 7 === 0) await sleep(1);
    }
    expect((await reading).equals(expected)).toBe(true);
    expect(proxy.bytesUp).toBe(expected.length);
    expect(proxy.bytesDown).toBe(expected.length);
  });

  for (const delay of [0, 2]) {
    it(`pauses the sender while the target does not read, then delivers everything (delay ${delay})`, async () => {
      const target = await server((socket) => socket.pause());
      const proxy = await proxyTo(target.port);
      proxy.setDelay(delay);
      const socket = await client(proxy.port);
      const far = await target.next();
      const data = randomBytes(32 * MiB);
      for (let at = 0; at < data.length; at += MiB) socket.write(data.subarray(at, at + MiB));
      socket.end();
      // Wait until the proxy stops forwarding (bounded), then check it held back (about
      // 1 MiB of its own plus the kernel's socket buffers: some 5 MiB here).
      let last = -1;
      let stable = 0;
      for (let i = 0; i < 100 && stable < 5; i++) {
        await sleep(50);
        stable = proxy.bytesUp === last ? stable + 1 : 0;
        last = proxy.bytesUp;
      }
      expect(stable).toBe(5);
      expect(proxy.bytesUp).toBeLessThan(data.length / 2);
      const got = await readAll(far, 30_000);
      expect(got.equals(data)).toBe(true);
      expect(proxy.bytesUp).toBe(data.length);
    });
  }

  it('blocked: connections are accepted and destroyed without reaching the target', async () => {
    const target = await server(echo);
    const proxy = await proxyTo(target.port);
    proxy.setBlocked(true);
    for (let i = 0; i < 3; i++) {
      const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
      socket.on('error', () => {});
      cleanups.push(() => socket.destroy());
      expect((await readAll(socket, 5000)).length).toBe(0);
      await closed(socket);
    }
    expect(proxy.connections).toBe(3);
    expect(target.accepted).toBe(0);

    proxy.setBlocked(false);
    const socket = await client(proxy.port);
    socket.write('open');
    expect((await readBytes(socket, 4)).toString()).toBe('open');
    expect(proxy.connections).toBe(4);
    expect(target.accepted).toBe(1);
  });

  it('cutAfterBytes forwards exactly up to n bytes up, then cuts, once', async () => {
    const target = await server();
    const proxy = await proxyTo(target.port);
    proxy.cutAfterBytes(1000);
    const socket = await client(proxy.port);
    const data = randomBytes(5000);
    socket.write(data.subarray(0, 600));
    const far = await target.next();
    const farAll = readAll(far);
    await until(() => proxy.bytesUp === 600, 5000, '600 bytes up');
    socket.write(data.subarray(600));
    expect((await farAll).equals(data.subarray(0, 1000))).toBe(true);
    expect(far.readableEnded).toBe(true); // the target saw the end of stream (it may stay half-open)
    await closed(socket);
    expect(proxy.bytesUp).toBe(1000);

    // One-shot: the next connection carries everything.
    const next = await client(proxy.port);
    const far2 = await target.next();
    const far2All = readAll(far2);
    next.end(data);
    expect((await far2All).equals(data)).toBe(true);
    expect(proxy.bytesUp).toBe(6000);

    // Relative to now, with a delay in the way.
    proxy.setDelay(5);
    proxy.cutAfterBytes(proxy.bytesUp + 10);
    const third = await client(proxy.port);
    const far3 = await target.next();
    const far3All = readAll(far3);
    third.write(data);
    expect((await far3All).equals(data.subarray(0, 10))).toBe(true);
    await closed(third);
    expect(proxy.bytesUp).toBe(6010);
  });

  it('close() ends open connections and refuses new ones', async () => {
    const target = await server(echo);
    const proxy = await TcpProxy.start({ target: target.port });
    const socket = await client(proxy.port);
    socket.write('a');
    await readBytes(socket, 1);
    await withTimeout(proxy.close(), 5000, 'proxy close');
    await closed(socket);
    await expect(connect(proxy.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await proxy.close(); // twice is fine
  });

  it('closes the client when the target refuses', async () => {
    const [port] = await freePorts(1);
    const proxy = await proxyTo(port!);
    const socket = await client(proxy.port);
    socket.write('hello?');
    await closed(socket);
    expect(proxy.connections).toBe(1);
    await until(() => proxy.openConnections === 0, 5000, 'the connection to go');
  });

  it('listens on a given port, and only proxies to 127.0.0.1', async () => {
    const [port] = await freePorts(1);
    const target = await server(echo);
    const proxy = await TcpProxy.start({ target: `localhost:${target.port}`, port: port! });
    cleanups.push(() => proxy.close());
    expect(proxy.port).toBe(port);
    const socket = await client(port!);
    socket.write('hi');
    expect((await readBytes(socket, 2)).toString()).toBe('hi');
    await expect(TcpProxy.start({ target: '10.0.0.1:80' })).rejects.toThrow(/127\.0\.0\.1/);
    await expect(TcpProxy.start({ target: '127.0.0.1:0' })).rejects.toThrow(/port/);
    await expect(TcpProxy.start({ target: 'nonsense' })).rejects.toThrow(/host:port/);
  });
});

describe('files', () => {
  it('tempDir, writePeers and removeDir', async () => {
    const dir = await tempDir('snapcopy-net-test-');
    expect(dir.startsWith(tmpdir())).toBe(true);
    expect((await stat(dir)).isDirectory()).toBe(true);
    const nodes = { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002' };
    const path = await writePeers(dir, 'a-secret-of-enough-length', nodes);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ secret: 'a-secret-of-enough-length', nodes });
    const other = await writePeers(dir, 'another-secret-1234', {}, 'other.json');
    expect(other).not.toBe(path);
    await removeDir(dir);
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    await removeDir(dir); // missing is fine
  });
});

/** Node options that run `code` before bin/snapcopy.mjs; a top-level await that never settles keeps the script from loading. */
function preload(code: string): string[] {
  return ['--import', `data:text/javascript,${encodeURIComponent(code)}`];
}

describe('runCli', () => {
  it('returns the exit code, stdout and stderr, with env, cwd and input', async () => {
    const dir = await tempDir('snapcopy-net-test-');
    cleanups.push(() => removeDir(dir));
    const result = await runCli(['one', 'two'], {
      cwd: dir,
      env: { NET_TEST_VALUE: 'seen' },
      input: 'from stdin',
      nodeArgs: preload(`
        let input = '';
        for await (const chunk of process.stdin) input += chunk;
        process.stdout.write(JSON.stringify({ args: process.argv.slice(2), cwd: process.cwd(), env: process.env.NET_TEST_VALUE, input }));
        process.stderr.write('to stderr');
        process.exit(3);
      `),
    });
    expect(result.code).toBe(3);
    expect(result.signal).toBe(null);
    expect(JSON.parse(result.stdout)).toEqual({ args: ['one', 'two'], cwd: dir, env: 'seen', input: 'from stdin' });
    expect(result.stdoutBytes.toString()).toBe(result.stdout);
    expect(result.stderr).toBe('to stderr');
  });

  it('kills a command that runs past its timeout and rejects', async () => {
    const started = performance.now();
    await expect(
      runCli(['hang'], { timeoutMs: 300, nodeArgs: preload('setInterval(() => {}, 1000); await new Promise(() => {});') }),
    ).rejects.toThrow(/no exit within 300 ms/);
    expect(performance.now() - started).toBeLessThan(20_000);
  });
});

describe('NodeProcess (with a fake serve, so this passes before and after the real one exists)', () => {
  // Listens where --listen says (port 0: an ephemeral one), prints the line snapcopy
  // serve prints, and exits 0 on SIGTERM (unless told to ignore it).
  const fakeServe = (options: { ignoreTerm?: boolean } = {}) =>
    preload(`
      import net from 'node:net';
      const arg = (name) => process.argv[process.argv.indexOf(name) + 1];
      const [host, port] = arg('--listen').split(':');
      const server = net.createServer((s) => s.end('hello from ' + arg('--name')));
      server.listen({ host, port: Number(port) }, () => {
        process.stdout.write('starting\\nsnapcopy node ' + arg('--name') + ' listening on ' + host + ':' + server.address().port + ' (HTTP and RCP)\\n');
      });
      process.on('SIGTERM', () => { ${options.ignoreTerm ? '' : 'server.close(); process.exit(0);'} });
      await new Promise(() => {});
    `);

  it('start() resolves on the listening line; stop() terminates with the exit code', async () => {
    const node = await NodeProcess.start({
      name: 'n1',
      port: 0,
      data: '/nonexistent-data',
      peers: '/nonexistent-peers.json',
      args: ['--rcp-keepalive', '200'],
      nodeArgs: fakeServe(),
    });
    expect(NodeProcess.running.has(node)).toBe(true);
    expect(node.port).toBeGreaterThan(0);
    expect(node.address).toBe(`127.0.0.1:${node.port}`);
    expect(node.options.port).toBe(node.port);
    expect(node.stdout).toContain('listening on');
    const socket = await client(node.port);
    expect((await readAll(socket)).toString()).toBe('hello from n1');
    expect(await node.stop()).toBe(0);
    expect(node.exited).toBe(true);
    expect(NodeProcess.running.has(node)).toBe(false);
    expect(await node.stop()).toBe(0); // again: already stopped
  });

  it('start() rejects with the stderr when the process exits first', async () => {
    const attempt = NodeProcess.start({
      name: 'bad',
      port: 0,
      data: '/x',
      peers: '/y',
      nodeArgs: preload(`process.stderr.write('snapcopy: something is wrong\\n'); process.exit(2);`),
    });
    await expect(attempt).rejects.toThrow(/node "bad".*exited with code 2 before listening[\s\S]*something is wrong/);
    expect(NodeProcess.running.size).toBe(0);
  });

  it('start() gives up after its time bound and kills the process', async () => {
    const attempt = NodeProcess.start({
      name: 'slow',
      port: 0,
      data: '/x',
      peers: '/y',
      // Long enough for a loaded machine to start node and run the preload (300 ms was
      // not, once, in CI: the error then had no stderr to show); short enough for a test.
      startTimeoutMs: 2500,
      nodeArgs: preload(`process.stderr.write('still thinking'); setInterval(() => {}, 1000); await new Promise(() => {});`),
    });
    await expect(attempt).rejects.toThrow(/did not print its listening line within 2500 ms[\s\S]*still thinking/);
    expect(NodeProcess.running.size).toBe(0);
  });

  it('stop() falls back to SIGKILL; kill() crashes it; stopAll() stops the rest', async () => {
    const options = { port: 0, data: '/x', peers: '/y' };
    const stubborn = await NodeProcess.start({ ...options, name: 'stubborn', nodeArgs: fakeServe({ ignoreTerm: true }) });
    expect(await stubborn.stop(300)).toBe(null);
    expect(stubborn.signalCode).toBe('SIGKILL');

    const crashed = await NodeProcess.start({ ...options, name: 'crash', nodeArgs: fakeServe() });
    await crashed.kill();
    expect(crashed.exitCode).toBe(null);
    expect(crashed.signalCode).toBe('SIGKILL');

    // Restart on the same port from its options.
    const restarted = await NodeProcess.start(crashed.options);
    expect(restarted.port).toBe(crashed.port);
    const other = await NodeProcess.start({ ...options, name: 'other', nodeArgs: fakeServe() });
    expect(NodeProcess.running.size).toBe(2);
    await stopAll();
    expect(NodeProcess.running.size).toBe(0);
    expect(restarted.exitCode).toBe(0);
    expect(other.exitCode).toBe(0);
  });
});
