// Helpers for the replication suites that run real nodes (test/replication/): a node's
// HTTP API called directly (fast enough to poll and to write from a loop, where a CLI
// process per call would eat the machine), a seeded writer that keeps writing to a
// primary through kills of its node, bounded retries of `fs_replicate -refresh`, and
// byte-for-byte comparison of a replica with its primary.

import { expect } from 'vitest';
import type { Cluster } from './cluster.js';
import { type CliResult, runCli } from './net.js';
import { Prng } from './prng.js';

export { setTimeout as sleep } from 'node:timers/promises';

/** One destination in `fs_replicate -info --json` of a primary. */
export interface DestinationInfo {
  node: string;
  sfs: string;
  currentDeltaSet: number | null;
  lagSeconds: number | null;
  state: string;
  lastSuccess: { at: number; bytes: number; seconds: number } | null;
  lastError: { code: string; message: string; at: number } | null;
}

/** `fs_replicate -info --json` of a primary. */
export interface PrimaryInfo {
  type: 'replication';
  name: string;
  group: string;
  state: string;
  currentDeltaSet: number | null;
  nextDeltaSet: number;
  pendingSets: number;
  pendingBytes: number;
  sending: { from: number | null; to: number; bytes: number; since: number } | null;
  destinations: DestinationInfo[];
  sets: { n: number; created: number; blocks: number; bytes: number }[];
}

/** Calls a node's HTTP API with the cluster's token; throws on a transport error, returns status and body. */
export async function callApi<N extends string>(
  cluster: Cluster<N>, node: N, method: string, path: string, body?: Uint8Array | object, timeoutMs = 10_000,
): Promise<{ status: number; text: string; bytes: Buffer }> {
  const raw = body instanceof Uint8Array;
  const response = await fetch(`http://${cluster.node(node).address}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${cluster.token}`,
      ...(body === undefined ? {} : { 'content-type': raw ? 'application/octet-stream' : 'application/json' }),
    },
    body: body === undefined ? undefined : raw ? (body as unknown as BodyInit) : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, text: bytes.toString('utf8'), bytes };
}

/** The primary's -info as JSON over HTTP (for polling), or undefined while the node does not answer. */
export async function pollInfo<N extends string>(cluster: Cluster<N>, node: N, pfs: string): Promise<PrimaryInfo | undefined> {
  try {
    const reply = await callApi(cluster, node, 'GET', `/v1/replication/info?fs=${encodeURIComponent(pfs)}`, undefined, 3000);
    return reply.status === 200 ? (JSON.parse(reply.text) as PrimaryInfo) : undefined;
  } catch {
    return undefined;
  }
}

/** `snapcopy --node <node> ...args` with a bound (the cluster's cli allows 60 s). */
export function cliWithin<N extends string>(cluster: Cluster<N>, node: N, timeoutMs: number, ...args: string[]): Promise<CliResult> {
  return runCli(['--peers', cluster.peers, '--node', node, ...args], { timeoutMs });
}

/** `fs_replicate -info <fs> --json` through the CLI (what an operator runs). */
export async function infoJson<N extends string, T = PrimaryInfo>(cluster: Cluster<N>, node: N, fs: string): Promise<T> {
  const result = await cliWithin(cluster, node, 20_000, 'fs_replicate', '-info', fs, '--json');
  expect(result.stderr, `fs_replicate -info ${fs} on ${node}`).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** A CLI command that must succeed silently on stderr; its stdout. */
export async function ok<N extends string>(cluster: Cluster<N>, node: N, ...args: string[]): Promise<string> {
  const result = await cliWithin(cluster, node, 30_000, ...args);
  expect(result.stderr, `snapcopy --node ${node} ${args.join(' ')}`).toBe('');
  expect(result.code, `snapcopy --node ${node} ${args.join(' ')}`).toBe(0);
  return result.stdout;
}

/**
 * `fs_replicate -refresh <pfs>` until it succeeds (a refresh fails while a destination
 * is in error or its node is still coming back), each try bounded, all within `totalMs`.
 * Returns every failed try's output, for the log.
 */
export async function refreshUntilDone<N extends string>(cluster: Cluster<N>, node: N, pfs: string, totalMs: number): Promise<string[]> {
  const failures: string[] = [];
  const deadline = performance.now() + totalMs;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`fs_replicate -refresh ${pfs} did not succeed within ${totalMs} ms; tries:\n${failures.join('\n')}`);
    let line: string;
    try {
      const result = await cliWithin(cluster, node, Math.max(1000, Math.min(left, 30_000)), 'fs_replicate', '-refresh', pfs);
      if (result.code === 0) return failures;
      line = `exit ${result.code}: ${result.stderr.trim()}`;
    } catch (error) {
      line = (error as Error).message.split('\n')[0]!;
    }
    failures.push(line);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The whole live volume `fs` on `node`, read over the node's HTTP API. */
export async function readVolume<N extends string>(cluster: Cluster<N>, node: N, fs: string): Promise<Buffer> {
  const reply = await callApi(cluster, node, 'GET', `/v1/volumes/${encodeURIComponent(fs)}/data?offset=0`, undefined, 30_000);
  if (reply.status !== 200) throw new Error(`reading ${fs} on ${node}: HTTP ${reply.status} ${reply.text}`);
  return reply.bytes;
}

/** The replica equals the primary byte for byte (sizes first; then the first differing block, not a 16 MiB diff). */
export async function expectSameVolume<N extends string>(cluster: Cluster<N>, primary: [N, string], replica: [N, string], blockSize: number): Promise<void> {
  const [a, b] = await Promise.all([readVolume(cluster, ...primary), readVolume(cluster, ...replica)]);
  const label = `${replica[1]} on ${replica[0]} against ${primary[1]} on ${primary[0]}`;
  expect(b.byteLength, `${label}: size`).toBe(a.byteLength);
  let firstDiff = -1;
  for (let off = 0; off < a.byteLength && firstDiff < 0; off += blockSize) {
    if (Buffer.compare(a.subarray(off, off + blockSize), b.subarray(off, off + blockSize)) !== 0) firstDiff = off / blockSize;
  }
  expect(firstDiff, `${label}: first differing block`).toBe(-1);
}

/** The volume's uuid from `info <fs> --json` (a replica re-created by a full copy gets a new one). */
export async function uuidOf<N extends string>(cluster: Cluster<N>, node: N, fs: string): Promise<string> {
  const info = JSON.parse(await ok(cluster, node, 'info', fs, '--json')) as { uuid?: string; volume?: { uuid?: string } };
  const uuid = info.uuid ?? info.volume?.uuid;
  expect(typeof uuid, `info ${fs} --json on ${node} has a uuid: ${JSON.stringify(info)}`).toBe('string');
  return uuid!;
}

/** The replica's `rep-<n>` checkpoint numbers, from `ckpt list <fs> --json`. */
export async function repCheckpoints<N extends string>(cluster: Cluster<N>, node: N, fs: string): Promise<number[]> {
  const list = JSON.parse(await ok(cluster, node, 'ckpt', 'list', fs, '--json')) as { name: string }[] | { checkpoints: { name: string }[] };
  const names = (Array.isArray(list) ? list : list.checkpoints).map((c) => c.name);
  return names.flatMap((name) => /^(?:.*@)?rep-(\d+)$/.exec(name)?.[1] ?? []).map(Number);
}

/**
 * Writes seeded random pieces to a volume on a node over HTTP, one at a time, until
 * stopped. A write that fails (the node is down or coming back) is counted and the
 * writer goes on: the point is that writes keep arriving whatever happens elsewhere.
 */
export class Writer<N extends string> {
  written = 0;
  failed = 0;
  /** The slowest successful write (ms): the primary must never block writes. */
  slowestMs = 0;
  #running = false;
  #loop: Promise<void> = Promise.resolve();

  constructor(
    readonly cluster: Cluster<N>, readonly node: N, readonly fs: string,
    readonly options: { seed: number; volumeBytes: number; maxPiece: number; pauseMs: number },
  ) {}

  start(): void {
    this.#running = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  async #run(): Promise<void> {
    const prng = new Prng(this.options.seed);
    while (this.#running) {
      const length = prng.int(1, this.options.maxPiece);
      const offset = prng.int(0, this.options.volumeBytes - length);
      const data = prng.fill(new Uint8Array(length));
      const started = performance.now();
      try {
        const reply = await callApi(this.cluster, this.node, 'PUT', `/v1/volumes/${encodeURIComponent(this.fs)}/data?offset=${offset}`, data, 15_000);
        if (reply.status === 200 || reply.status === 204) {
          this.written++;
          this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
        } else {
          this.failed++;
        }
      } catch {
        this.failed++;
      }
      await new Promise((resolve) => setTimeout(resolve, this.options.pauseMs));
    }
  }
}
