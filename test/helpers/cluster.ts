// A cluster of `snapcopy serve` processes for the multi-node RCP suites (test/node/tree,
// forwarder-failure, resume): one temporary root holding each node's data directory, a
// files/ directory for the files to send and the peers file; the nodes started with short
// RCP timers; the CLI aimed at a node; rcptest with its --json output parsed; a node's
// sessions from its /v1/status; and the checks on what a destination received.
//
//   const cluster = new Cluster({ prefix: 'snapcopy-tree-', secret: SECRET, nodes: NODES });
//   beforeAll(async () => {
//     await cluster.start();
//     await cluster.routes({ O: [['g1', 'L1']], L1: [['g1', 'L1']] });
//   }, 60_000);
//   afterAll(() => cluster.stop());
//
// A node can sit behind a TcpProxy: listed in the peers file at the proxy's address
// (`behindProxies`), or with a proxy in front that only a route names (`proxyTo`).

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { httpTokenOf } from '../../src/rcp/auth.js';
import { type CliResult, NodeProcess, TcpProxy, freePorts, removeDir, runCli, tempDir, writePeers } from './net.js';
import { Prng } from './prng.js';

export { setTimeout as sleep } from 'node:timers/promises';

/** Multi-process network suites run once, in the `wasm` project only (the kernels play no part): skip them when this is true. */
export const onlyOnce = (process.env.SNAPCOPY_KERNELS ?? 'wasm') !== 'wasm';

export const MiB = 1024 * 1024;
/** The data carried by one rcptest data frame. */
export const CHUNK = 256 * 1024;
/** Short RCP timers. Breaks in these tests are seen as closed sockets, so dead-after only has to
 * outlast a busy event loop (3 s); a forwarder is covered for after 300 ms; give-up is 10 s. */
export const TUNING = ['--rcp-keepalive', '100', '--rcp-dead-after', '3000', '--rcp-cover-after', '300', '--rcp-give-up', '10000'];

/** One of the origin's next hops in rcptest --json. */
export interface HopJson {
  name: string;
  state: string;
  coveringFor?: string;
  stats: { sent: number; resent: number; resumes: { have: number; acked: number; sentBefore: number }[] };
}

/** What `rcptest ... --json` prints (also on exit 1). */
export interface RcptestJson {
  group: string;
  name: string;
  bytes: number;
  seconds: number;
  destinations: Record<string, { status: 'ok' | 'pending' | 'failed'; acked: number; error?: string }>;
  hops: HopJson[];
}

/** One session in a node's GET /v1/status. */
export interface SessionJson {
  id: string;
  group: string;
  origin: string;
  upstream: string | undefined;
  have: number;
  end: number | undefined;
  stats: { frames: number; duplicates: number };
  hops: { name: string; state: string; coveringFor?: string }[];
  destinations: Record<string, { status: string; acked: number; error?: string }>;
}

export interface Rcptest {
  result: CliResult;
  json: RcptestJson;
}

/** An rcptest still running: `done()` says whether it has exited; `why()` describes how it ended (for a failed guard). */
export interface RcptestRun {
  done: () => boolean;
  why: () => Promise<string>;
  result: Promise<Rcptest>;
}

/** A file of `size` bytes from the seeded PRNG; returns its bytes for comparison. */
export async function writeSeededFile(path: string, size: number, seed: number): Promise<Buffer> {
  const prng = new Prng(seed);
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = prng.u32();
  const bytes = Buffer.from(words.buffer, 0, size);
  await writeFile(path, bytes);
  return bytes;
}

/** Frames a file of `size` bytes takes in an rcptest session: the header, the data, the end. */
export function framesOf(size: number): number {
  return 1 + Math.ceil(size / CHUNK) + 1;
}

export interface ClusterOptions<N extends string> {
  /** tempDir prefix of the cluster's root. */
  prefix: string;
  /** The peers file's shared secret. */
  secret: string;
  /** The nodes, each started with --name <node> --data <root>/<node>. */
  nodes: readonly N[];
  /** Nodes every node knows by the address of a TcpProxy in front of them (they listen behind it). */
  behindProxies?: readonly N[];
  /** Where rcptest runs (default 'O'). */
  origin?: N;
  /** serve arguments (default TUNING). */
  args?: string[];
  /** Extra environment of each node's process (a failpoint log, say). */
  env?: (name: N) => Record<string, string>;
}

export class Cluster<N extends string> {
  root = '';
  /** <root>/files: where the files to send are written. */
  files = '';
  /** The peers file. */
  peers = '';
  /** The HTTP bearer token for the secret. */
  token = '';
  readonly nodes = new Map<N, NodeProcess>();
  readonly proxies = new Map<N, TcpProxy>();

  constructor(readonly options: ClusterOptions<N>) {}

  /** Makes the root, files/ and the peers file and starts every node (and the proxies of `behindProxies`); for beforeAll. */
  async start(): Promise<void> {
    const { nodes: names, secret } = this.options;
    this.root = await tempDir(this.options.prefix);
    this.files = join(this.root, 'files');
    await mkdir(this.files);
    this.token = await httpTokenOf(secret);
    const ports = await freePorts(names.length);
    const port = (name: N) => ports[names.indexOf(name)]!;
    for (const name of this.options.behindProxies ?? []) {
      this.proxies.set(name, await TcpProxy.start({ target: `127.0.0.1:${port(name)}` }));
    }
    const addresses = Object.fromEntries(names.map((name) => [name, this.proxies.get(name)?.address ?? `127.0.0.1:${port(name)}`]));
    this.peers = await writePeers(this.root, secret, addresses);
    const args = this.options.args ?? TUNING;
    const started = await Promise.all(
      names.map((name) => NodeProcess.start({ name, port: port(name), data: join(this.root, name), peers: this.peers, args, env: this.options.env?.(name) })),
    );
    for (const node of started) this.nodes.set(node.name as N, node);
  }

  /** Stops every node, closes the proxies, removes the root; for afterAll. */
  async stop(): Promise<void> {
    await NodeProcess.stopAll();
    for (const proxy of this.proxies.values()) await proxy.close();
    if (this.root) await removeDir(this.root);
  }

  node(name: N): NodeProcess {
    const node = this.nodes.get(name);
    if (node === undefined) throw new Error(`no node ${name} in the cluster`);
    return node;
  }

  /** The proxy in front of `name` (from `behindProxies` or `proxyTo`). */
  proxy(name: N): TcpProxy {
    const proxy = this.proxies.get(name);
    if (proxy === undefined) throw new Error(`no proxy in front of ${name}`);
    return proxy;
  }

  /** Starts a TcpProxy in front of a running node, unknown to the peers file (a route can name its address). */
  async proxyTo(name: N): Promise<TcpProxy> {
    const proxy = await TcpProxy.start({ target: this.node(name).address });
    this.proxies.set(name, proxy);
    return proxy;
  }

  /**
   * SIGKILLs `name` if it still runs and starts it again with the same options (port, data
   * directory); with `env`, the cluster's environment for it plus `env` (a failpoint, say).
   */
  async restart(name: N, env?: Record<string, string>): Promise<NodeProcess> {
    const old = this.node(name);
    await old.kill();
    const node = await NodeProcess.start(env ? { ...old.options, env: { ...this.options.env?.(name), ...env } } : { ...old.options, env: this.options.env?.(name) });
    this.nodes.set(name, node);
    return node;
  }

  /** A path under files/. */
  file(name: string): string {
    return join(this.files, name);
  }

  /** snapcopy --peers <peers> --node <node> ...args (`node` a name or an address). */
  cli(node: string, ...args: string[]): Promise<CliResult> {
    return runCli(['--peers', this.peers, '--node', node, ...args], { timeoutMs: 60_000 });
  }

  /**
   * The routing tables, one `rcproute add` per entry (the nodes at once, each node's entries in
   * order); each must succeed silently. A node behind a proxy is configured directly, not through it.
   */
  async routes(table: Record<N, (readonly [group: string, nexthop: string])[]>): Promise<void> {
    await Promise.all(this.options.nodes.map(async (name) => {
      const target = this.proxies.has(name) ? this.node(name).address : name;
      for (const [group, nexthop] of table[name]) {
        const result = await this.cli(target, 'rcproute', 'add', `group=${group}`, `nexthop=${nexthop}`);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
      }
    }));
  }

  /** rcptest at the origin; the parsed JSON it printed (also on exit 1). */
  async rcptest(file: string, group: string): Promise<Rcptest> {
    const result = await this.cli(this.options.origin ?? 'O', 'rcptest', `data=${file}`, `group=${group}`, '--json');
    let json: RcptestJson;
    try {
      json = JSON.parse(result.stdout) as RcptestJson;
    } catch {
      throw new Error(`rcptest printed no JSON (exit ${result.code})\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`);
    }
    return { result, json };
  }

  /** Starts rcptest at the origin without waiting for it. */
  startRcptest(file: string, group = 'g1'): RcptestRun {
    let finished = false;
    const result = this.rcptest(file, group);
    void result.finally(() => (finished = true)).catch(() => undefined);
    const why = () => result.then(
      ({ result: r, json }) => `rcptest exited ${r.code}: ${r.stderr.trim()} ${JSON.stringify(json.destinations)} hops ${JSON.stringify(json.hops)}`,
      (error: Error) => `rcptest failed: ${error.message}`,
    );
    return { done: () => finished, why, result };
  }

  /** The sessions `name` holds, from its GET /v1/status (which must answer 200). */
  async sessionsOf(name: N): Promise<SessionJson[]> {
    const response = await fetch(`http://${this.node(name).address}/v1/status`, { headers: { authorization: `Bearer ${this.token}` } });
    expect(response.status).toBe(200);
    return ((await response.json()) as { sessions: SessionJson[] }).sessions;
  }

  /** Each of `leaves` holds <data>/rcptest/<name> byte for byte equal to `expected`. */
  async expectDelivered(leaves: readonly N[], name: string, expected: Buffer): Promise<void> {
    for (const leaf of leaves) {
      const got = await readFile(join(this.root, leaf, 'rcptest', name));
      expect(got.byteLength, `${leaf}/rcptest/${name} size`).toBe(expected.byteLength);
      expect(Buffer.compare(got, expected), `${leaf}/rcptest/${name} content`).toBe(0);
    }
  }

  /** None of `nodes` holds <data>/rcptest/<name>. */
  async expectNotDelivered(nodes: readonly N[], name: string): Promise<void> {
    for (const node of nodes) {
      await expect(readFile(join(this.root, node, 'rcptest', name))).rejects.toMatchObject({ code: 'ENOENT' });
    }
  }

  /** None of `names` (default: every node) has exited. */
  expectRunning(names: readonly N[] = this.options.nodes): void {
    for (const name of names) {
      const node = this.node(name);
      expect(node.exited, `${name} exited:\n${node.stderr}`).toBe(false);
    }
  }
}
