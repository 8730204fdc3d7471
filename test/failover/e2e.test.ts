// Failover end to end (FIG. 31–33) with real `snapcopy serve` processes on 127.0.0.1:
// P replicates to S; with -sync every write P acknowledged before the failover is on S;
// with P killed, -sync is refused (nothing changes) and a failover without sync makes
// S read-write at its restart point. Re-issuing a finished failover changes nothing.
// And the seed's recovery example (replicate, kill -9 the primary's node, failover, writes
// on the new primary, the old primary back read-only, resync, failback) with a SQLite
// database in the volume, checked at each stage: the replica equals its source after
// -refresh, `PRAGMA integrity_check` is ok on both sides, and `fs_replicate -status` says
// exactly how many blocks differ (against a plain count of both volumes' blocks) before
// the refresh, and 0 after. And a split brain, fencing, and resync's refusal and full copy
// (below). Runs once, in the `wasm` project only.

import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { Cluster } from '../helpers/cluster.js';
import { NodeProcess } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { databaseCheck, hasSqlite, sqlite } from '../helpers/sqlite.js';
import { callApi, ok, readVolume } from '../helpers/replication-faults.js';

const NODES = ['P', 'S'] as const;
type Name = typeof NODES[number];
const SIZE = 4 << 20;
const BLOCK = 4096;
/** The recovery example's volume: random writes below DB_OFFSET, the SQLite database from there. */
const EXAMPLE_SIZE = 8 << 20;
const DB_OFFSET = 4 << 20;

/** `fs_replicate -status --json`, as far as these tests read it. */
interface Status {
  differingBlocks: number;
  generations: { local: string | null; remote: string | null };
  divergence: { splitBrain: boolean; wrote: { local: number | null; remote: number | null } } | null;
}

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
  // ---------------------------------------------------------------------------------
  // The seed's recovery example, checked at each stage

  const withSqlite = hasSqlite();
  const db = () => cluster.file('example.sqlite');
  let files = 0;
  let rows = 0;

  const sql = (script: string): string => sqlite(db(), script);

  /** A round of SQLite work on the local copy, then the database file written into `fs` on `node`. */
  async function sqliteRound(node: Name, fs: string, round: number): Promise<void> {
    if (!withSqlite) return;
    const inserts = prng.int(100, 400);
    sql([
      'CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, round INTEGER, v TEXT);',
      'CREATE INDEX IF NOT EXISTS t_round ON t(round);',
      'BEGIN;',
      `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${inserts})`,
      `  INSERT INTO t (round, v) SELECT ${round}, printf('%d-%d-%s', x, ${prng.u32()}, hex(randomblob(${prng.int(8, 60)}))) FROM c;`,
      `UPDATE t SET v = v || '-u${round}' WHERE id % ${prng.int(2, 7)} = 0;`,
      `DELETE FROM t WHERE id % ${prng.int(11, 17)} = ${round % 11};`,
      'COMMIT;',
    ].join('\n'));
    rows = Number(sql('SELECT count(*) FROM t;').trim());
    const bytes = await readFile(db());
    expect(bytes.byteLength, 'the database fits its region').toBeLessThanOrEqual(EXAMPLE_SIZE - DB_OFFSET);
    expect(await write(node, fs, DB_OFFSET, bytes)).toBe(200);
  }

  /** Random writes of new random bytes below the database (none restores what a block held, so every block written differs). */
  async function randomWrites(node: Name, fs: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const length = prng.int(1, 3 * BLOCK);
      expect(await write(node, fs, prng.int(0, DB_OFFSET - length), prng.fill(new Uint8Array(length)))).toBe(200);
    }
  }

  /** The workload of one stage: random writes and a SQLite round. */
  async function workload(node: Name, fs: string, round: number): Promise<void> {
    await randomWrites(node, fs, prng.int(3, 10));
    await sqliteRound(node, fs, round);
  }

  /** A plain count of the blocks in which two images differ. */
  function differingBlocks(a: Buffer, b: Buffer): number {
    expect(a.byteLength).toBe(b.byteLength);
    let n = 0;
    for (let off = 0; off < a.byteLength; off += BLOCK) if (Buffer.compare(a.subarray(off, off + BLOCK), b.subarray(off, off + BLOCK)) !== 0) n++;
    return n;
  }

  /** The database in `fs` on `node` passes PRAGMA integrity_check and holds the rows written. */
  async function expectSoundDatabase(node: Name, fs: string, what: string): Promise<void> {
    if (!withSqlite) return;
    const length = (await readFile(db())).byteLength;
    const copy = cluster.file(`example-${node}-${files++}.sqlite`);
    await writeFile(copy, (await readVolume(cluster, node, fs)).subarray(DB_OFFSET, DB_OFFSET + length));
    const check = databaseCheck(copy);
    expect(check.integrity, `${what}: ${fs} on ${node}`).toBe('ok');
    expect(check.rows, `${what}: rows in ${fs} on ${node}`).toBe(rows);
  }

  /**
   * The source took writes since its last set: -status counts exactly the blocks in which
   * the two sides differ (nonzero); after -refresh the replica equals the source, -status
   * says 0 and the database is sound on both sides.
   */
  async function expectFollows(source: [Name, string], replica: [Name, string], what: string): Promise<void> {
    const [node, fs] = source;
    const status = async () => JSON.parse(await ok(cluster, node, 'fs_replicate', '-status', fs, `${replica[1]}:cel=${replica[0]}`, '--json')) as { differingBlocks: number };
    const plain = differingBlocks(await readVolume(cluster, ...source), await readVolume(cluster, ...replica));
    expect(plain, `${what}: the stage's writes made the sides differ`).toBeGreaterThan(0);
    expect((await status()).differingBlocks, `${what}: -status before -refresh`).toBe(plain);
    await ok(cluster, node, 'fs_replicate', '-refresh', fs);
    const [a, b] = await Promise.all([readVolume(cluster, ...source), readVolume(cluster, ...replica)]);
    expect(differingBlocks(a, b), `${what}: ${replica[1]} on ${replica[0]} against ${fs} on ${node} after -refresh`).toBe(0);
    expect((await status()).differingBlocks, `${what}: -status after -refresh`).toBe(0);
    await expectSoundDatabase(node, fs, what);
    await expectSoundDatabase(...replica, what);
  }

  test('the seed\'s recovery example: at each stage the replica follows its source exactly and the SQLite database is sound', async () => {
    if (!withSqlite) console.log('[failover-e2e] sqlite3 is not installed: the SQLite integrity checks are skipped');
    // 1. pfs on P replicates to sfs on S, with a workload running.
    await ok(cluster, 'P', 'create', 'pfs', '--size', String(EXAMPLE_SIZE), '--block-size', String(BLOCK));
    // Every block in use from the start: a block that comes into use holding zeros (SQLite
    // writes all-zero pages) is a change by the bit maps, yet reads the same as an unused one,
    // so a plain count of differing bytes could not tell it.
    expect(await write('P', 'pfs', 0, prng.fill(new Uint8Array(EXAMPLE_SIZE)))).toBe(200);
    await workload('P', 'pfs', 0);
    await ok(cluster, 'P', 'fs_replicate', '-start', 'pfs', 'sfs:cel=S', '-option', 'to=600,hwm=600');
    await ok(cluster, 'P', 'fs_replicate', '-refresh', 'pfs');
    for (let round = 1; round <= 2; round++) {
      await workload('P', 'pfs', round);
      await expectFollows(['P', 'pfs'], ['S', 'sfs'], `replicating, round ${round}`);
    }
    // Taken by P after its last set, never replicated: the diverged writes (below the database).
    const played = await readVolume(cluster, 'P', 'pfs');
    await randomWrites('P', 'pfs', 4);
    const diverged = differingBlocks(await readVolume(cluster, 'P', 'pfs'), played);

    // 2. kill -9 P; failover (P cannot be reached): sfs is read-write at the last set it played.
    await cluster.node('P').kill();
    const failover = await ok(cluster, 'S', 'fs_replicate', '-failover', 'pfs:cel=P', 'sfs');
    expect(failover).toContain('pfs:cel=P could not be reached');
    expect(differingBlocks(await readVolume(cluster, 'S', 'sfs'), played), 'after failover: sfs holds the last set').toBe(0);
    await expectSoundDatabase('S', 'sfs', 'after failover');

    // 3. Writes on the new primary.
    await workload('S', 'sfs', 3);
    await expectSoundDatabase('S', 'sfs', 'writes on the new primary');

    // 4. P back, read-only by hand; resync keeps its diverged writes and makes it follow sfs.
    await cluster.restart('P');
    await ok(cluster, 'P', 'server_mount', 'P', '-o', 'ro', 'pfs');
    // Both sides took writes since they parted: -status from either side counts exactly the blocks that differ.
    const parted = differingBlocks(await readVolume(cluster, 'S', 'sfs'), await readVolume(cluster, 'P', 'pfs'));
    expect(parted, 'both sides wrote since the failover').toBeGreaterThan(0);
    for (const [node, fs, other] of [['S', 'sfs', 'pfs:cel=P'], ['P', 'pfs', 'sfs:cel=S']] as const) {
      const status = JSON.parse(await ok(cluster, node, 'fs_replicate', '-status', fs, other, '--json')) as { differingBlocks: number };
      expect(status.differingBlocks, `-status on ${node} before resync`).toBe(parted);
    }
    const resync = await ok(cluster, 'S', 'fs_replicate', '-resync', 'sfs', 'pfs:cel=P');
    expect(resync).toMatch(new RegExp(`^pfs:cel=P had diverged by ${diverged} blocks: kept as pfs@diverged-`, 'm'));
    await workload('S', 'sfs', 4);
    await expectFollows(['S', 'sfs'], ['P', 'pfs'], 'after resync');

    // 5. Failback: pfs is the primary again, sfs its replica, no full copy.
    await ok(cluster, 'S', 'fs_replicate', '-failback', 'sfs', 'pfs:cel=P');
    await workload('P', 'pfs', 5);
    await expectFollows(['P', 'pfs'], ['S', 'sfs'], 'after failback');
  }, 240_000);

  // Split brain: P takes writes that never reach S and is killed; S is failed over and takes
  // writes; P comes back and takes more. Both sides' generation numbers and bit maps show a
  // split brain in -status and -info, each side's writes and the differing blocks exact
  // against a plain model (the set of blocks each side wrote); P's next set is refused by S,
  // which fences P (read-only); resync names the side it makes follow, keeps that side's
  // writes, and ends the split brain. Without writes on P: no split brain. An old primary
  // that lost its cuts: resync refuses and changes nothing, or with autofullcopy=yes sets it
  // aside and copies in full.
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

  async function status(node: Name, here: string, there: string): Promise<Status> {
    return JSON.parse(await ok(cluster, node, 'fs_replicate', '-status', here, there, '--json')) as Status;
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
