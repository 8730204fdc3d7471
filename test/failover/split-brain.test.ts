// Split brain end to end with real `snapcopy serve` processes on 127.0.0.1: P replicates
// to S; P takes writes that never reach S and is killed; S is failed over and takes
// writes; P comes back and takes more. Both sides' generation numbers and bit maps show
// a split brain in -status and -info, with each side's writes and the blocks that differ
// counted exactly (against a plain model: the set of blocks each side wrote); P's next set
// is refused by S, which fences P (read-only); resync
// names the side it makes follow, keeps that side's writes, and leaves no split brain.
// And the same without writes on P: no split brain. And an old primary that lost its cuts
// (its replication stopped by hand): resync refuses and changes nothing, or with
// autofullcopy=yes sets it aside and copies in full. Runs once, in the `wasm` project only.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { Cluster } from '../helpers/cluster.js';
import { NodeProcess } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { callApi, ok, readVolume } from '../helpers/replication-faults.js';

const NODES = ['P', 'S'] as const;
type Name = typeof NODES[number];
const BLOCK = 4096;
const SIZE = 1024 * BLOCK;

interface Status {
  differingBlocks: number;
  generations: { local: string | null; remote: string | null };
  divergence: { splitBrain: boolean; wrote: { local: number | null; remote: number | null } } | null;
}

describe.runIf(backend === 'wasm')('split brain', () => {
  const seed = testSeed('split-brain-e2e');
  const prng = new Prng(seed);
  const cluster = new Cluster<Name>({ prefix: 'snapcopy-split-brain-', secret: 'split-brain-secret-77d1', nodes: NODES });

  beforeAll(async () => {
    await ensureBuilt();
    await cluster.start();
  }, 300_000);

  afterAll(async () => {
    await NodeProcess.stopAll();
    await cluster.stop();
  });

  /** Writes `count` random runs of whole blocks; adds the blocks to `touched`. */
  async function writeBlocks(node: Name, fs: string, count: number, touched: Set<number>): Promise<void> {
    for (let i = 0; i < count; i++) {
      const first = prng.int(0, SIZE / BLOCK - 8);
      const blocks = prng.int(1, 8);
      const reply = await callApi(cluster, node, 'PUT', `/v1/volumes/${fs}/data?offset=${first * BLOCK}`, prng.fill(new Uint8Array(blocks * BLOCK)), 15_000);
      expect(reply.status, reply.text).toBe(200);
      for (let b = first; b < first + blocks; b++) touched.add(b);
    }
  }

  async function write(node: Name, fs: string, offset: number, data: Uint8Array): Promise<number> {
    return (await callApi(cluster, node, 'PUT', `/v1/volumes/${fs}/data?offset=${offset}`, data, 15_000)).status;
  }

  async function status(node: Name, here: string, there: string): Promise<Status> {
    return JSON.parse(await ok(cluster, node, 'fs_replicate', '-status', here, there, '--json')) as Status;
  }

  async function replicated(pfs: string, sfs: string): Promise<void> {
    await ok(cluster, 'P', 'create', pfs, '--size', String(SIZE), '--block-size', String(BLOCK));
    await writeBlocks('P', pfs, 30, new Set());
    await ok(cluster, 'P', 'fs_replicate', '-start', pfs, `${sfs}:cel=S`, '-option', 'to=600,hwm=600');
    await ok(cluster, 'P', 'fs_replicate', '-refresh', pfs);
  }

  test('both sides took writes: reported by -status and -info from both sides, exact; resync names the follower and ends it', async () => {
    await replicated('v', 'v-copy');
    const onP = new Set<number>();
    const onS = new Set<number>();
    await writeBlocks('P', 'v', 5, onP); // never replicated
    await cluster.node('P').kill();
    await ok(cluster, 'S', 'fs_replicate', '-failover', 'v:cel=P', 'v-copy');
    await writeBlocks('S', 'v-copy', 6, onS);
    await cluster.restart('P');
    await writeBlocks('P', 'v', 4, onP); // the old primary came back read-write and took more
    const union = new Set([...onP, ...onS]).size;
    // Its next set is refused by the failed-over replica, and that fences it: read-only from then on.
    const refresh = await cluster.cli('P', 'fs_replicate', '-refresh', 'v');
    expect(refresh.stderr).toMatch(/v-copy on S was failed over .*\[ERR_FAILED_OVER\]\s*$/);
    expect(await write('P', 'v', 0, new Uint8Array(10))).toBe(409);

    const fromS = await status('S', 'v-copy', 'v:cel=P');
    expect(fromS.generations).toEqual({ local: '2@S', remote: '1@P' });
    expect(fromS.divergence).toMatchObject({ splitBrain: true, wrote: { local: onS.size, remote: onP.size } });
    expect(fromS.differingBlocks, `seed ${seed}`).toBe(union);
    const fromP = await status('P', 'v', 'v-copy:cel=S');
    expect(fromP.divergence).toMatchObject({ splitBrain: true, wrote: { local: onP.size, remote: onS.size } });
    expect(fromP.differingBlocks).toBe(union);
    const text = await ok(cluster, 'S', 'fs_replicate', '-status', 'v-copy', 'v:cel=P');
    expect(text).toContain(`${union} blocks differ between v-copy and v:cel=P`);
    expect(text).toContain(`split brain: both took writes (v-copy ${onS.size} blocks, v:cel=P ${onP.size} blocks since they parted)`);
    expect(await ok(cluster, 'S', 'fs_replicate', '-info', 'v-copy')).toContain(`split_brain with v:cel=P = yes: both took writes (here ${onS.size} blocks, v:cel=P ${onP.size} blocks since they parted)`);

    const beforeResync = await readVolume(cluster, 'P', 'v');
    const out = await ok(cluster, 'S', 'fs_replicate', '-resync', 'v-copy', 'v:cel=P');
    expect(out.split('\n')[0]).toBe(`split brain: v:cel=P took ${onP.size} blocks and v-copy took ${onS.size} blocks since they parted (generations 1@P and 2@S); resync makes v:cel=P follow v-copy`);
    expect(out).toMatch(new RegExp(`v:cel=P had diverged by ${onP.size} blocks: kept as v@diverged-`));
    // What P took is kept, readable, as the diverged checkpoint.
    const kept = /kept as (v@diverged-\S+)/.exec(out)![1]!;
    const keptBytes = await callApi(cluster, 'P', 'GET', `/v1/volumes/v/data?offset=0&checkpoint=${encodeURIComponent(kept.split('@')[1]!)}`);
    expect(Buffer.compare(keptBytes.bytes, beforeResync)).toBe(0);
    await ok(cluster, 'S', 'fs_replicate', '-refresh', 'v-copy');
    const after = await status('S', 'v-copy', 'v:cel=P');
    expect(after).toMatchObject({ differingBlocks: 0, generations: { local: '2@S', remote: '2@S' } });
    expect(after.divergence?.splitBrain).toBe(false);
    expect(Buffer.compare(await readVolume(cluster, 'P', 'v'), await readVolume(cluster, 'S', 'v-copy'))).toBe(0);
  }, 240_000);

  test('only the new primary took writes: no split brain, and resync says the old primary follows', async () => {
    await replicated('w', 'w-copy');
    await cluster.node('P').kill();
    await ok(cluster, 'S', 'fs_replicate', '-failover', 'w:cel=P', 'w-copy');
    const onS = new Set<number>();
    await writeBlocks('S', 'w-copy', 5, onS);
    await cluster.restart('P');
    const fromS = await status('S', 'w-copy', 'w:cel=P');
    expect(fromS.divergence).toMatchObject({ splitBrain: false, wrote: { local: onS.size, remote: 0 } });
    expect(fromS.differingBlocks).toBe(onS.size);
    await ok(cluster, 'P', 'server_mount', '-o', 'ro', 'w');
    const out = await ok(cluster, 'S', 'fs_replicate', '-resync', 'w-copy', 'w:cel=P');
    expect(out.split('\n')[0]).toBe(`w:cel=P follows w-copy (generations 1@P and 2@S; w-copy took ${onS.size} blocks since the restart point)`);
    expect(out).toContain('w:cel=P had not diverged from the restart point');
  }, 240_000);

  test('the old primary lost its cuts: resync is refused and changes nothing; with autofullcopy=yes it is set aside and copied in full', async () => {
    await replicated('u', 'u-copy');
    const onP = new Set<number>();
    await writeBlocks('P', 'u', 4, onP); // never replicated: the old primary is past the restart point
    await cluster.node('P').kill();
    await ok(cluster, 'S', 'fs_replicate', '-failover', 'u:cel=P', 'u-copy');
    await writeBlocks('S', 'u-copy', 3, new Set());
    await cluster.restart('P');
    // The operator stops the old primary's replication: its cuts (the before-images) go with it.
    await ok(cluster, 'P', 'fs_replicate', '-stop', 'u');
    await ok(cluster, 'P', 'server_mount', '-o', 'ro', 'u');
    const bytes = await readVolume(cluster, 'P', 'u');
    const checkpoints = await ok(cluster, 'P', 'ckpt', 'list', 'u');
    const refused = await cluster.cli('S', 'fs_replicate', '-resync', 'u-copy', 'u:cel=P');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot be undone: issue the resync again with -option autofullcopy=yes .*\[ERR_WRONG_BASE\]\s*$/);
    expect(Buffer.compare(await readVolume(cluster, 'P', 'u'), bytes)).toBe(0);
    expect(await ok(cluster, 'P', 'ckpt', 'list', 'u')).toBe(checkpoints);
    expect(await write('P', 'u', 0, new Uint8Array(10))).toBe(409); // still read-only, not raw
    const out = await ok(cluster, 'S', 'fs_replicate', '-resync', 'u-copy', 'u:cel=P', '-option', 'autofullcopy=yes');
    expect(out).toContain('u could not be undone: it was set aside and made a full copy of u-copy');
    expect(out).toMatch(/^split brain: u:cel=P took an unknown number of blocks and u-copy took \d+ blocks since they parted/);
    const aside = JSON.parse(await ok(cluster, 'P', 'list', '--json')) as { name: string }[];
    const kept = aside.find((v) => v.name.startsWith('u-diverged-'));
    expect(kept, 'the old volume is kept, renamed').toBeDefined();
    expect(Buffer.compare(await readVolume(cluster, 'P', kept!.name), bytes)).toBe(0);
    await ok(cluster, 'S', 'fs_replicate', '-refresh', 'u-copy');
    expect(Buffer.compare(await readVolume(cluster, 'P', 'u'), await readVolume(cluster, 'S', 'u-copy'))).toBe(0);
  }, 240_000);
});
