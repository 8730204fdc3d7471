// Network test helpers for the snapcopy node server: free ports, a fault-injecting
// TCP proxy, snapcopy serve child processes, one-shot CLI runs, peers files and
// temporary directories. Everything listens on and connects to 127.0.0.1 only.
//
// TcpProxy sits between a client and a target and can cut connections, delay every
// chunk (in order, both directions), refuse new connections or cut once a number of
// bytes has gone up. NodeProcess runs `snapcopy serve` and resolves once the node
// prints its "listening on" line; NodeProcess.stopAll() in afterAll stops whatever a
// test left running (and any still running when the worker exits are SIGKILLed).

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net, { type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/helpers/net.ts). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The snapcopy command line script. */
export const BIN = join(ROOT, 'bin', 'snapcopy.mjs');

const LOCALHOST = '127.0.0.1';

// ---------------------------------------------------------------------------------
// Ports, directories, peers files

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen({ host: LOCALHOST, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function boundPort(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server is not listening on TCP');
  return address.port;
}

/** `count` distinct TCP ports that were free on 127.0.0.1 a moment ago (all held open until all are chosen). */
export async function freePorts(count: number): Promise<number[]> {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`freePorts: bad count ${count}`);
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await listen(server, 0);
    }
    return servers.map(boundPort);
  } finally {
    await Promise.all(servers.map((s) => (s.listening ? closeServer(s) : undefined)));
  }
}

/** A fresh directory under os.tmpdir(). */
export function tempDir(prefix = 'snapcopy-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Removes a directory tree; a missing one is fine. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
}

/** Writes a peers file ({"secret", "nodes": {name: "host:port"}}) into `dir` and returns its path. */
export async function writePeers(
  dir: string,
  secret: string,
  nodes: Record<string, string>,
  file = 'peers.json',
): Promise<string> {
  const path = join(dir, file);
  await writeFile(path, `${JSON.stringify({ secret, nodes }, null, 2)}\n`);
  return path;
}

/** 'host:port' (host 127.0.0.1 or localhost) or a bare port on 127.0.0.1. */
function parseLocalAddress(target: string | number): { host: string; port: number } {
  let host = LOCALHOST;
  let portText = String(target);
  if (typeof target === 'string') {
    const colon = target.lastIndexOf(':');
    if (colon < 0) throw new Error(`not a host:port address: ${target}`);
    host = target.slice(0, colon);
    portText = target.slice(colon + 1);
    if (host === 'localhost') host = LOCALHOST;
    if (host !== LOCALHOST) throw new Error(`only 127.0.0.1 targets are allowed, not ${target}`);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw new Error(`bad port in ${String(target)}`);
  return { host, port };
}

// ---------------------------------------------------------------------------------
// TcpProxy

/** Above this many bytes waiting for one destination (delay queue + socket buffer) the source is paused. */
const HIGH_WATER = 1024 * 1024;
/** How long a cutAfterBytes cut waits for its last bytes to be flushed before it cuts anyway. */
const CUT_FLUSH_BOUND_MS = 2000;

/** One direction of a proxied connection. */
interface Link {
  readonly src: Socket;
  readonly dst: Socket;
  readonly up: boolean;
  /** Chunks (null: end of stream) waiting for their due time (performance.now() ms). */
  readonly queue: Array<{ due: number; chunk: Buffer | null }>;
  queued: number;
  timer: NodeJS.Timeout | undefined;
  paused: boolean;
}

interface Conn {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly up: Link;
  readonly down: Link;
  /** Nothing more is forwarded (cut, or being cut). */
  dead: boolean;
}

function link(src: Socket, dst: Socket, up: boolean): Link {
  return { src, dst, up, queue: [], queued: 0, timer: undefined, paused: false };
}

export interface TcpProxyOptions {
  /** 'host:port' on 127.0.0.1 (or localhost), or a port on 127.0.0.1. */
  target: string | number;
  /** The port to listen on (default: an ephemeral one). */
  port?: number;
}

/** A fault-injecting TCP proxy from 127.0.0.1:port to a target on 127.0.0.1. */
export class TcpProxy {
  /** Bytes forwarded client → target, over all connections. */
  bytesUp = 0;
  /** Bytes forwarded target → client, over all connections. */
  bytesDown = 0;
  /** Connections accepted (blocked ones included). */
  connections = 0;

  readonly port: number;
  readonly target: { host: string; port: number };

  private readonly server: Server;
  private readonly conns = new Set<Conn>();
  private readonly cutTimers = new Set<NodeJS.Timeout>();
  private delayMs = 0;
  private blocked = false;
  private cutAt: number | undefined;
  private closed = false;

  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const target = parseLocalAddress(options.target);
    const server = net.createServer({ allowHalfOpen: true });
    await listen(server, options.port ?? 0);
    return new TcpProxy(server, target);
  }

  private constructor(server: Server, target: { host: string; port: number }) {
    this.server = server;
    this.target = target;
    this.port = boundPort(server);
    server.on('connection', (socket) => this.accept(socket));
    server.on('error', () => {});
  }

  /** '127.0.0.1:port', for a peers file. */
  get address(): string {
    return `${LOCALHOST}:${this.port}`;
  }

  /** Connections currently open through the proxy. */
  get openConnections(): number {
    return this.conns.size;
  }

  get delay(): number {
    return this.delayMs;
  }

  /** Destroys every current connection, both sides (reset: with a TCP RST). New connections are still accepted. */
  cut(options: { reset?: boolean } = {}): void {
    for (const conn of [...this.conns]) this.kill(conn, options.reset === true);
  }

  /** Delays every chunk from now on by `ms`, in both directions, keeping the order. */
  setDelay(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`setDelay: bad delay ${ms}`);
    this.delayMs = ms;
  }

  /** While blocked, new connections are accepted and at once destroyed (existing ones are left alone). */
  setBlocked(blocked: boolean): void {
    this.blocked = blocked;
  }

  /**
   * Arms a one-shot cut: once `bytesUp` reaches `n` (a total, like bytesUp; pass
   * proxy.bytesUp + k for "k more bytes"), exactly the bytes up to n are forwarded,
   * then every current connection is cut. `undefined` disarms.
   */
  cutAfterBytes(n: number | undefined): void {
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new RangeError(`cutAfterBytes: bad count ${n}`);
    this.cutAt = n;
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cutAt = undefined;
    for (const timer of this.cutTimers) clearTimeout(timer);
    this.cutTimers.clear();
    const closing = closeServer(this.server);
    this.cut();
    await closing;
  }

  private accept(client: Socket): void {
    this.connections++;
    if (this.blocked || this.closed) {
      client.on('error', () => {});
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    const conn: Conn = {
      client,
      upstream,
      up: link(client, upstream, true),
      down: link(upstream, client, false),
      dead: false,
    };
    this.conns.add(conn);
    client.on('data', (chunk: Buffer) => this.receive(conn, conn.up, chunk));
    upstream.on('data', (chunk: Buffer) => this.receive(conn, conn.down, chunk));
    client.on('end', () => this.receive(conn, conn.up, null));
    upstream.on('end', () => this.receive(conn, conn.down, null));
    upstream.on('drain', () => this.pressure(conn.up));
    client.on('drain', () => this.pressure(conn.down));
    for (const socket of [client, upstream]) {
      socket.on('error', () => this.kill(conn, false));
      socket.on('close', () => {
        // A side gone without a clean end of stream takes the other with it; after a
        // clean end the other side finishes (its queue drains, then it ends) on its own.
        if (!socket.readableEnded) this.kill(conn, false);
        else if (client.destroyed && upstream.destroyed) this.conns.delete(conn);
      });
    }
  }

  private receive(conn: Conn, l: Link, chunk: Buffer | null): void {
    if (conn.dead) return;
    if (this.delayMs <= 0 && l.queue.length === 0) {
      this.forward(conn, l, chunk);
    } else {
      l.queue.push({ due: performance.now() + this.delayMs, chunk });
      l.queued += chunk?.length ?? 0;
      this.schedule(conn, l);
    }
    this.pressure(l);
  }

  private schedule(conn: Conn, l: Link): void {
    const head = l.queue[0];
    if (l.timer !== undefined || head === undefined || conn.dead) return;
    const wait = Math.max(0, Math.ceil(head.due - performance.now()));
    l.timer = setTimeout(() => {
      l.timer = undefined;
      this.pump(conn, l);
    }, wait);
  }

  private pump(conn: Conn, l: Link): void {
    // Timers may fire a little early against performance.now(): a head not yet due is rescheduled.
    for (let head = l.queue[0]; head !== undefined && !conn.dead; head = l.queue[0]) {
      if (head.due > performance.now()) break;
      l.queue.shift();
      l.queued -= head.chunk?.length ?? 0;
      this.forward(conn, l, head.chunk);
    }
    this.schedule(conn, l);
    this.pressure(l);
  }

  private forward(conn: Conn, l: Link, chunk: Buffer | null): void {
    const dst = l.dst;
    if (conn.dead || dst.destroyed) return;
    if (chunk === null) {
      dst.end();
      return;
    }
    if (l.up) {
      const limit = this.cutAt;
      if (limit !== undefined && this.bytesUp + chunk.length >= limit) {
        this.cutAt = undefined;
        const take = Math.max(0, limit - this.bytesUp);
        this.bytesUp += take;
        this.cutAfterFlush(dst, chunk.subarray(0, take));
        return;
      }
      this.bytesUp += chunk.length;
    } else {
      this.bytesDown += chunk.length;
    }
    dst.write(chunk);
  }

  /** Writes `last` to `dst`, then (once flushed, or after a bound) cuts every connection open now. */
  private cutAfterFlush(dst: Socket, last: Buffer): void {
    const victims = [...this.conns];
    for (const conn of victims) this.silence(conn);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.cutTimers.delete(timer);
      for (const conn of victims) this.kill(conn, false);
    };
    const timer = setTimeout(finish, CUT_FLUSH_BOUND_MS);
    this.cutTimers.add(timer);
    if (last.length === 0) finish();
    else dst.write(last, () => finish());
  }

  /** Stops forwarding on a connection (its sockets stay open until kill). */
  private silence(conn: Conn): void {
    conn.dead = true;
    for (const l of [conn.up, conn.down]) {
      if (l.timer !== undefined) clearTimeout(l.timer);
      l.timer = undefined;
      l.queue.length = 0;
      l.queued = 0;
    }
  }

  private kill(conn: Conn, reset: boolean): void {
    this.silence(conn);
    this.conns.delete(conn);
    for (const socket of [conn.client, conn.upstream]) {
      if (socket.destroyed) continue;
      if (reset) {
        try {
          socket.resetAndDestroy();
          continue;
        } catch {
          // not a TCP handle yet: fall through to a plain destroy
        }
      }
      socket.destroy();
    }
  }

  private pressure(l: Link): void {
    const pending = l.queued + l.dst.writableLength;
    if (!l.paused && pending > HIGH_WATER) {
      l.paused = true;
      l.src.pause();
    } else if (l.paused && pending <= HIGH_WATER) {
      l.paused = false;
      l.src.resume();
    }
  }
}

// ---------------------------------------------------------------------------------
// NodeProcess: snapcopy serve as a child process

export interface NodeProcessOptions {
  /** --name */
  name: string;
  /** The port on 127.0.0.1 to --listen on; 0 for an ephemeral one (read back from the listening line). */
  port: number;
  /** --data */
  data: string;
  /** --peers */
  peers: string;
  /** More serve arguments, e.g. ['--rcp-keepalive', '200']. */
  args?: string[];
  /** Added to (and overriding) process.env. */
  env?: NodeJS.ProcessEnv;
  /** Node options before the script (e.g. ['--enable-source-maps']). */
  nodeArgs?: string[];
  /** How long to wait for the listening line (default 15 s). */
  startTimeoutMs?: number;
}

const LISTENING = /^snapcopy node .* listening on (\S+):(\d+)/m;
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function waitWithBound<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

/** A running `snapcopy serve` child process. */
export class NodeProcess {
  /** Every node started and not yet seen to exit. */
  static readonly running = new Set<NodeProcess>();

  /** Everything the node wrote so far. */
  stdout = '';
  stderr = '';
  /** The exit code and signal, once exited. */
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  exited = false;

  readonly child: ChildProcess;
  /** The options it was started with; `port` is the real port once listening, so start(options) restarts it. */
  readonly options: NodeProcessOptions;
  /** Resolves when the process has exited (stdout and stderr fully read). */
  readonly exit: Promise<Exit>;
  private listeningPort: number | undefined;

  private constructor(child: ChildProcess, options: NodeProcessOptions) {
    this.child = child;
    this.options = { ...options };
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => (this.stdout += text));
    child.stderr!.on('data', (text: string) => (this.stderr += text));
    this.exit = new Promise<Exit>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.exited) return;
        this.exited = true;
        this.exitCode = code;
        this.signalCode = signal;
        NodeProcess.running.delete(this);
        childRegistry().delete(child);
        resolve({ code, signal });
      };
      child.on('close', done);
      child.on('error', (error) => {
        this.stderr += `spawn failed: ${error.message}\n`;
        if (child.pid === undefined) done(null, null);
      });
    });
    NodeProcess.running.add(this);
    childRegistry().add(child);
  }

  /** Starts `snapcopy serve` and resolves once it prints its listening line. */
  static async start(options: NodeProcessOptions): Promise<NodeProcess> {
    const args = [
      ...(options.nodeArgs ?? []),
      BIN,
      'serve',
      '--name',
      options.name,
      '--listen',
      `${LOCALHOST}:${options.port}`,
      '--data',
      options.data,
      '--peers',
      options.peers,
      ...(options.args ?? []),
    ];
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new NodeProcess(child, options);
    try {
      await node.waitListening(options.startTimeoutMs ?? START_TIMEOUT_MS);
    } catch (error) {
      await node.kill();
      throw error;
    }
    return node;
  }

  /** Stops every node still running (SIGTERM, then SIGKILL after 5 s); for afterAll. */
  static async stopAll(): Promise<void> {
    await Promise.all([...NodeProcess.running].map((node) => node.stop()));
  }

  get name(): string {
    return this.options.name;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The port it listens on (known once started). */
  get port(): number {
    if (this.listeningPort === undefined) throw new Error(`node ${this.name} is not listening`);
    return this.listeningPort;
  }

  /** '127.0.0.1:port' */
  get address(): string {
    return `${LOCALHOST}:${this.port}`;
  }

  /** SIGTERM, then waits for the exit (SIGKILL after timeoutMs, default 5 s); the exit code (null if killed by a signal). */
  async stop(timeoutMs = STOP_TIMEOUT_MS): Promise<number | null> {
    if (!this.exited) {
      this.child.kill('SIGTERM');
      if ((await waitWithBound(this.exit, timeoutMs)) === undefined) {
        this.child.kill('SIGKILL');
        await this.exit;
      }
    }
    return this.exitCode;
  }

  /** SIGKILL (a crash) and waits for the exit. */
  async kill(): Promise<void> {
    if (!this.exited) {
      this.child.kill('SIGKILL');
      await this.exit;
    }
  }

  private describe(): string {
    return `snapcopy serve (node ${JSON.stringify(this.name)}, pid ${this.pid ?? 'none'})`;
  }

  private waitListening(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const stdout = this.child.stdout!;
      let settled = false;
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stdout.off('data', onData);
        if (error) reject(error);
        else resolve();
      };
      const onData = () => {
        const match = LISTENING.exec(this.stdout);
        if (!match) return;
        this.listeningPort = Number(match[2]);
        this.options.port = this.listeningPort;
        finish();
      };
      const timer = setTimeout(() => {
        finish(
          new Error(
            `${this.describe()} did not print its listening line within ${timeoutMs} ms\n` +
              `--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`,
          ),
        );
      }, timeoutMs);
      stdout.on('data', onData);
      void this.exit.then(({ code, signal }) => {
        finish(
          new Error(
            `${this.describe()} exited ${signal ? `on ${signal}` : `with code ${code}`} before listening\n` +
              `--- stderr ---\n${this.stderr}`,
          ),
        );
      });
    });
  }
}

/** Stops every node still running; for afterAll. */
export function stopAll(): Promise<void> {
  return NodeProcess.stopAll();
}

// A worker that exits never leaves nodes behind. One registry and one exit hook per
// process, however many times test files (re)load this module.
const REGISTRY_KEY = Symbol.for('snapcopy.test.net.children');
function childRegistry(): Set<ChildProcess> {
  const holder = globalThis as { [REGISTRY_KEY]?: Set<ChildProcess> };
  let children = holder[REGISTRY_KEY];
  if (children === undefined) {
    const created = new Set<ChildProcess>();
    children = holder[REGISTRY_KEY] = created;
    process.once('exit', () => {
      for (const child of created) {
        try {
          child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
  return children;
}

// ---------------------------------------------------------------------------------
// runCli

export interface CliOptions {
  /** Added to (and overriding) process.env. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default 60 s; then SIGKILL and reject. */
  timeoutMs?: number;
  /** Written to stdin (otherwise stdin is /dev/null). */
  input?: string | Uint8Array;
  /** Node options before the script. */
  nodeArgs?: string[];
}

export interface CliResult {
  /** Exit code (null if killed by a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout as bytes, for binary output. */
  stdoutBytes: Buffer;
}

const CLI_TIMEOUT_MS = 60_000;

/** Runs `node bin/snapcopy.mjs ...args` to completion. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? CLI_TIMEOUT_MS;
  return new Promise<CliResult>((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
    if (options.input !== undefined) {
      child.stdin!.on('error', () => {}); // the command may exit without reading it all
      child.stdin!.end(options.input);
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    let settled = false;
    child.on('error', (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`snapcopy ${args.join(' ')}: spawn failed: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        reject(new Error(`snapcopy ${args.join(' ')}: no exit within ${timeoutMs} ms (killed)\n--- stderr ---\n${stderr}`));
        return;
      }
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr, stdoutBytes });
    });
  });
}
