// Failover end to end (FIG. 31–33) with real `snapcopy serve` processes on 127.0.0.1:
// P replicates to S; with -sync every write P acknowledged before the failover is on S;
// with P killed, -sync is refused (nothing changes) and a failover without sync makes
// S read-write at its restart point. Re-issuing a finished failover changes nothing.
// Runs once, in the `wasm` project only.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { Cluster } from '../helpers/cluster.js';
import { NodeProcess } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { callApi, ok, readVolume } from '../helpers/replication-faults.js';

const NODES = ['P', 'S'] as const;
type Name = typeof NODES[number];
const SIZE = 4 << 20;

describe.runIf(backend === 'wasm')('failover end to end', () => {
  const seed = testSeed('failover-e2e');
  const prng = new Prng(seed);
  const cluster = new Cluster<Name>({ prefix: 'snapcopy-failover-', secret: 'failover-e2e-secret-41c9', nodes: NODES });

  beforeAll(async () => {
    await ensureBuilt();
    await cluster.start();
  }, 300_000);

  afterAll(async () => {
    await NodeProcess.stopAll();
    await cluster.stop();
  });

  async function write(node: Name, fs: string, offset: number, data: Uint8Array): Promise<number> {
    return (await callApi(cluster, node, 'PUT', `/v1/volumes/${fs}/data?offset=${offset}`, data, 15_000)).status;
  }

  async function replicated(pfs: string, sfs: string): Promise<void> {
    await ok(cluster, 'P', 'create', pfs, '--size', String(SIZE), '--block-size', '4096');
    expect(await write('P', pfs, 0, prng.fill(new Uint8Array(300_000)))).toBe(200);
    await ok(cluster, 'P', 'fs_replicate', '-start', pfs, `${sfs}:cel=S`, '-option', 'to=600,hwm=600');
    await ok(cluster, 'P', 'fs_replicate', '-refresh', pfs);
  }

  test('-sync: every write P acknowledged is on S; P read-only, S read-write at its restart point; a re-issue changes nothing', async () => {
    await replicated('a', 'a-copy');
    // A replica is made read-write by a failover, not by server_mount; a replicating primary is not made raw.
    const refused = await cluster.cli('S', 'server_mount', '-o', 'rw', 'a-copy');
    expect(refused.stderr).toMatch(/fs_replicate -failover makes it read-write \[ERR_IN_USE\]\s*$/);
    expect((await cluster.cli('P', 'server_mount', '-o', 'raw', 'a')).stderr).toMatch(/\[ERR_IN_USE\]\s*$/);
    expect(await write('S', 'a-copy', 0, new Uint8Array(10))).toBe(409); // still read-only
    // Acknowledged after the last refresh: only -sync's last set can bring them over.
    for (let i = 0; i < 20; i++) expect(await write('P', 'a', prng.int(0, SIZE - 5000), prng.fill(new Uint8Array(prng.int(1, 5000))))).toBe(200);
    const primary = await readVolume(cluster, 'P', 'a');
    const out = await ok(cluster, 'S', 'fs_replicate', '-failover', 'a:cel=P', 'a-copy', '-sync');
    expect(out).toMatch(/^a-copy is read-write now; restart point a-copy@restart-\d+/m);
    expect(out).toContain('a:cel=P is read-only');
    expect(Buffer.compare(await readVolume(cluster, 'S', 'a-copy'), primary)).toBe(0);
    expect(await write('P', 'a', 0, new Uint8Array(10))).toBe(409); // ERR_READ_ONLY
    expect(await write('S', 'a-copy', 0, new Uint8Array(10).fill(7))).toBe(200);
    const again = await ok(cluster, 'S', 'fs_replicate', '-failover', 'a:cel=P', 'a-copy', '-sync');
    expect(again).toBe(out);
    const ckpts = await ok(cluster, 'S', 'ckpt', 'list', 'a-copy');
    expect(ckpts).toMatch(/^a-copy@restart-\d+\t/m);
  }, 120_000);

  test('P killed: -sync is refused and changes nothing; without -sync S becomes read-write at the last set it played', async () => {
    await replicated('b', 'b-copy');
    const played = await readVolume(cluster, 'S', 'b-copy');
    expect(await write('P', 'b', 0, prng.fill(new Uint8Array(8192)))).toBe(200); // never replicated
    await cluster.node('P').kill();
    const refused = await cluster.cli('S', 'fs_replicate', '-failover', 'b:cel=P', 'b-copy', '-sync');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/\[ERR_(UNREACHABLE|TIMEOUT)\]\s*$/);
    expect(await write('S', 'b-copy', 0, new Uint8Array(10))).not.toBe(200); // still a read-only replica
    const out = await ok(cluster, 'S', 'fs_replicate', '-failover', 'b:cel=P', 'b-copy');
    expect(out).toContain('b:cel=P could not be reached');
    expect(Buffer.compare(await readVolume(cluster, 'S', 'b-copy'), played)).toBe(0);
    expect(await write('S', 'b-copy', 0, new Uint8Array(10).fill(3))).toBe(200);
    await cluster.restart('P');
  }, 120_000);
});
