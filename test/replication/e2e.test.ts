// Replication end to end (issue 9), on four real `snapcopy serve` processes on 127.0.0.1:
//
//        P ──────────── D1          P replicates `work` to D1 directly and to D2 through
//         \                         the forwarder F (group `gw`, set by server_config
//          F ── D2                  volmcast; F has a route to its child only)
//
// The CLI runs in this process (src/commands) against the nodes (dist/). The suite checks
// a scripted workload (seeded random writes, discards and a real SQLite database) byte for
// byte on every destination after -refresh; the consistent read-only view while writes go
// on; bad input refused with its code and nothing changed; -info/-status fields; -stop.
//
// Multi-process network tests run once, in the `wasm` project only. Random contents come
// from the printed seed: replay with SNAPCOPY_SEED=<seed> npx vitest run
// test/replication/e2e.test.ts --project wasm.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { Cluster } from '../helpers/cluster.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { databaseCheck, hasSqlite, sqlite } from '../helpers/sqlite.js';
import { numberedWrite, prefixOf, snapcopy } from '../helpers/replication-e2e.js';

const SECRET = 'replication-e2e-secret-0123456789';
const NODES = ['P', 'D1', 'F', 'D2'] as const;
type NodeName = typeof NODES[number];

const BLOCK = 4096;
const WORK_SIZE = 8 << 20;
/** The SQLite database lives at this offset of `work`; random writes stay below it. */
const DB_OFFSET = 4 << 20;
const GROUP = 'gw';

describe.runIf(backend === 'wasm')('replication end to end: P → D1, P → F → D2', () => {
  const seed = testSeed('replication-e2e');
  const prng = new Prng(seed);
  const cluster = new Cluster<NodeName>({ prefix: 'snapcopy-rep-e2e-', secret: SECRET, nodes: NODES });
  const withSqlite = hasSqlite();
  let count = 0;

  beforeAll(async () => {
    await ensureBuilt();
    await cluster.start();
    // F forwards to its child only; D1 and D2 get their own route from -start; P's come
    // from making it the primary of the group (server_config rep, below).
    await cluster.routes({ P: [], F: [[GROUP, 'D2']], D1: [], D2: [] });
  }, 300_000);

  // A failure says what the nodes said (their logs go to stderr), for the report.
  afterEach(({ task }) => {
    if (task.result?.state !== 'fail') return;
    for (const name of NODES) {
      const log = cluster.nodes.get(name)?.stderr.trim();
      if (log) console.log(`[replication-e2e] ${name} stderr (last 3000 characters):\n${log.slice(-3000)}`);
    }
  });

  afterAll(() => cluster.stop());

  /** `snapcopy --node <node> ...argv` in this process. */
  function on(node: NodeName, ...argv: string[]) {
    return snapcopy(['--peers', cluster.peers, '--node', node, ...argv]);
  }

  /** A command that must succeed; its standard output. */
  async function ok(node: NodeName, ...argv: string[]): Promise<string> {
    const result = await on(node, ...argv);
    expect(result.stderr, `${node}: ${argv.join(' ')}`).toEqual([]);
    expect(result.code, `${node}: ${argv.join(' ')}`).toBe(0);
    return result.stdout;
  }

  /** A command that must fail with one line ending in [code]; that line. */
  async function refused(code: string, node: NodeName | null, ...argv: string[]): Promise<string> {
    const result = await snapcopy(['--peers', cluster.peers, ...(node ? ['--node', node] : []), ...argv]);
    expect(result.code, `${argv.join(' ')}: ${result.stderr.join(' | ')}`).not.toBe(0);
    expect(result.stderr, argv.join(' ')).toHaveLength(1);
    expect(result.stderr[0], argv.join(' ')).toMatch(new RegExp(`\\[${code}\\]$`));
    return result.stderr[0]!;
  }

  async function json<T>(node: NodeName, ...argv: string[]): Promise<T> {
    return JSON.parse(await ok(node, ...argv, '--json')) as T;
  }

  /** The bytes of a volume (or checkpoint) on a node, cat'ed through it. */
  async function image(node: NodeName, spec: string, range?: { offset: number; length: number }): Promise<Buffer> {
    const out = cluster.file(`cat-${count++}.img`);
    const extra = range ? ['--offset', String(range.offset), '--length', String(range.length)] : [];
    await ok(node, 'cat', spec, ...extra, '--out', out);
    return readFile(out);
  }

  async function writeAt(node: NodeName, fs: string, offset: number, bytes: Uint8Array): Promise<void> {
    const path = cluster.file(`in-${count++}.bin`);
    await writeFile(path, bytes);
    await ok(node, 'write', fs, path, '--offset', String(offset));
  }

  /** `fs_replicate -list --json` without what moves by itself (lag grows with the clock). */
  async function replications(node: NodeName): Promise<unknown> {
    return JSON.parse(await ok(node, 'fs_replicate', '-list', '--json'), (key, value: unknown) => (key === 'lagSeconds' ? undefined : value));
  }

  async function checkpointsOf(node: NodeName, fs: string): Promise<string[]> {
    const list = await json<{ name: string }[] | { checkpoints: { name: string }[] }>(node, 'ckpt', 'list', fs);
    return (Array.isArray(list) ? list : list.checkpoints).map((c) => c.name);
  }

  function expectSame(got: Buffer, expected: Buffer, what: string): void {
    expect(got.byteLength, `${what}: size`).toBe(expected.byteLength);
    if (Buffer.compare(got, expected) !== 0) {
      let at = 0;
      while (got[at] === expected[at]) at++;
      expect.fail(`${what}: first difference at byte ${at} (block ${Math.floor(at / BLOCK)})`);
    }
  }

  // -----------------------------------------------------------------------------------
  // 1. The workload

  /** What `work` should hold: every write and discard applied to a plain buffer. */
  const model = Buffer.alloc(WORK_SIZE);
  const db = () => cluster.file('work.sqlite');
  let dbBytes = 0;
  let rows = 0;

  const sql = (script: string): string => sqlite(db(), script);

  /** One round of SQLite work: inserts, updates and deletes (seeded), then the file written into `work`. */
  async function sqliteRound(round: number): Promise<void> {
    if (!withSqlite) return;
    const inserts = prng.int(200, 800);
    const salt = prng.u32();
    sql([
      'CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, round INTEGER, v TEXT);',
      'CREATE INDEX IF NOT EXISTS t_round ON t(round);',
      'BEGIN;',
      `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${inserts})`,
      `  INSERT INTO t (round, v) SELECT ${round}, printf('%d-%d-%s', x, ${salt}, substr(hex(zeroblob(40)), 1, ${prng.int(10, 80)})) FROM c;`,
      `UPDATE t SET v = v || '-u${round}' WHERE id % ${prng.int(2, 7)} = 0;`,
      `DELETE FROM t WHERE id % ${prng.int(11, 17)} = ${round};`,
      'COMMIT;',
    ].join('\n'));
    rows = Number(sql('SELECT count(*) FROM t;').trim());
    const bytes = await readFile(db());
    expect(bytes.byteLength, 'the database fits its region').toBeLessThanOrEqual(WORK_SIZE - DB_OFFSET);
    await writeAt('P', 'work', DB_OFFSET, bytes);
    bytes.copy(model, DB_OFFSET);
    dbBytes = bytes.byteLength;
  }

  /** Random writes of random sizes at random offsets, and whole-block discards, below the database. */
  async function randomRound(ops: number): Promise<void> {
    for (let i = 0; i < ops; i++) {
      if (prng.chance(0.2)) {
        const blocks = prng.int(1, 16);
        const first = prng.int(0, DB_OFFSET / BLOCK - blocks);
        await ok('P', 'discard', 'work', '--offset', String(first * BLOCK), '--length', String(blocks * BLOCK));
        model.fill(0, first * BLOCK, (first + blocks) * BLOCK);
      } else {
        const length = prng.int(1, 96 * 1024);
        const offset = prng.int(0, DB_OFFSET - length);
        const bytes = prng.fill(new Uint8Array(length));
        await writeAt('P', 'work', offset, bytes);
        model.set(bytes, offset);
      }
    }
  }

  /** After -refresh: P equals the model, and each destination equals P; the SQLite copy is sound. */
  async function expectReplicated(what: string): Promise<void> {
    const primary = await image('P', 'work');
    expectSame(primary, model, `${what}: P:work against the model`);
    for (const node of ['D1', 'D2'] as const) {
      expectSame(await image(node, 'work-copy'), primary, `${what}: ${node}:work-copy against P:work`);
      if (!withSqlite) continue;
      const copy = cluster.file(`copy-${node}-${count++}.sqlite`);
      await writeFile(copy, await image(node, 'work-copy', { offset: DB_OFFSET, length: dbBytes }));
      const check = databaseCheck(copy);
      expect(check.integrity, `${what}: ${node}`).toBe('ok');
      expect(check.rows).toBe(rows);
    }
  }

  test('a workload of random writes, discards and a SQLite database reaches both destinations byte for byte', async () => {
    if (!withSqlite) console.log('[replication-e2e] sqlite3 is not installed: the SQLite part of the workload is skipped');
    await ok('P', 'create', 'work', '--size', String(WORK_SIZE), '--block-size', String(BLOCK));
    await ok('P', 'server_config', 'P', 'rep', GROUP, 'add', 'D1');
    await ok('P', 'server_config', 'P', 'rep', GROUP, 'add', 'F');
    await ok('P', 'server_config', 'P', `volmcast ${GROUP} -src work`);
    await randomRound(10);
    await sqliteRound(0);
    // The first set is the full copy; the primary keeps taking writes meanwhile.
    await ok('P', 'fs_replicate', '-start', 'work', 'work-copy:cel=D1', 'work-copy:cel=D2', '-option', 'to=600,hwm=600');
    await randomRound(10);
    await ok('P', 'fs_replicate', '-refresh', 'work');
    await expectReplicated('after the first refresh');
    for (let round = 1; round <= 2; round++) {
      await randomRound(15);
      await sqliteRound(round);
      await ok('P', 'fs_replicate', '-refresh', 'work');
      await expectReplicated(`after round ${round}`);
    }
    // D2 is reached through F only: the volmcast group's routes are the operator's.
    expect(await json<Record<string, string[]>>('P', 'rcproute', 'display')).toEqual({ [GROUP]: ['D1', 'F'] });
    expect(await json<unknown[]>('F', 'list'), 'the forwarder keeps no copy').toEqual([]);
    // Only the newest played set is kept on a replica, as its read-only view.
    const info = await json<{ currentDeltaSet: number }>('P', 'fs_replicate', '-info', 'work');
    console.log(`[replication-e2e] workload: set ${info.currentDeltaSet}, database ${dbBytes} bytes, ${rows} rows`);
    for (const node of ['D1', 'D2'] as const) {
      expect((await checkpointsOf(node, 'work-copy')).filter((c) => c.startsWith('rep-'))).toEqual([`rep-${info.currentDeltaSet}`]);
    }
  });

  // -----------------------------------------------------------------------------------
  // 5. -info and -status

  interface DestinationJson {
    node: string; sfs: string; currentDeltaSet: number | null; lagSeconds: number | null; state: string;
    lastSuccess: { at: number; bytes: number; seconds: number } | null; lastError: unknown;
  }
  interface PrimaryJson {
    type: string; name: string; group: string; state: string; currentDeltaSet: number | null;
    pendingSets: number; pendingBytes: number; pendingBlocks: number;
    destinations: DestinationJson[]; sets: { n: number; created: number; blocks: number; bytes: number }[];
  }
  interface StatusJson {
    differingBlocks: number; primaryDeltaSet: number | null; replicaDeltaSet: number | null;
    generations: { local: string | null; remote: string | null }; divergence: { splitBrain: boolean } | null;
  }

  test('-info --json says the state, sets, lag, last success and pending bytes; -status counts the blocks that differ exactly', async () => {
    const started = Date.now();
    const info = await json<PrimaryJson>('P', 'fs_replicate', '-info', 'work');
    expect(info).toMatchObject({ type: 'replication', name: 'work', group: GROUP, state: 'idle', pendingSets: 0, pendingBytes: 0, pendingBlocks: 0 });
    const current = info.currentDeltaSet!;
    expect(current).toBeGreaterThanOrEqual(3); // the full copy and three refreshes
    expect(info.sets.map((s) => s.n)).toContain(current);
    const newest = info.sets.find((s) => s.n === current)!;
    expect(newest.created).toBeLessThanOrEqual(started);
    expect(newest.blocks).toBeGreaterThan(0);
    expect(newest.bytes).toBe(newest.blocks * BLOCK);
    expect(info.destinations.map((d) => `${d.sfs}:cel=${d.node}`).sort()).toEqual(['work-copy:cel=D1', 'work-copy:cel=D2']);
    for (const d of info.destinations) {
      expect(d, d.node).toMatchObject({ currentDeltaSet: current, state: 'in-sync', lastError: null });
      // Lag is now minus the creation of the newest set played: a few seconds at most here.
      expect(d.lagSeconds!, d.node).toBeGreaterThanOrEqual(0);
      expect(d.lagSeconds!, d.node).toBeLessThan(60);
      expect(d.lagSeconds! * 1000, d.node).toBeGreaterThanOrEqual(started - newest.created - 1000);
      expect(d.lastSuccess!.bytes, d.node).toBeGreaterThan(0);
      expect(d.lastSuccess!.at, d.node).toBeGreaterThanOrEqual(newest.created);
      expect(d.lastSuccess!.seconds, d.node).toBeGreaterThanOrEqual(0);
    }
    const text = await ok('P', 'fs_replicate', '-info', 'work');
    expect(text).toContain('state = idle');
    expect(text).toContain(`current_delta_set = ${current}`);
    expect(text).toContain('destination = work-copy:cel=D2');

    const replica = await json<{ type: string; name: string; source: string; currentDeltaSet: number; lagSeconds: number }>(
      'D2', 'fs_replicate', '-info', 'work-copy');
    expect(replica).toMatchObject({ type: 'playback', name: 'work-copy', source: 'work:cel=P', currentDeltaSet: current });
    expect(replica.lagSeconds).toBeGreaterThanOrEqual(0);

    for (const node of ['D1', 'D2'] as const) {
      expect(await json<StatusJson>('P', 'fs_replicate', '-status', 'work', `work-copy:cel=${node}`))
        .toMatchObject({
          differingBlocks: 0, primaryDeltaSet: current, replicaDeltaSet: current,
          generations: { local: '1@P', remote: '1@P' }, divergence: { splitBrain: false },
        });
    }

    // k whole blocks written with new contents, not yet cut: exactly k blocks differ.
    const k = prng.int(3, 12);
    const first = prng.int(0, DB_OFFSET / BLOCK - 2 * k);
    const blocks = Array.from({ length: k }, (_, i) => first + 2 * i); // apart: k extents
    for (const b of blocks) {
      const bytes = prng.fill(new Uint8Array(BLOCK));
      bytes[0] = model[b * BLOCK]! ^ 0xff; // differs from what the block holds
      await writeAt('P', 'work', b * BLOCK, bytes);
      model.set(bytes, b * BLOCK);
    }
    for (const node of ['D1', 'D2'] as const) {
      expect(await json<StatusJson>('P', 'fs_replicate', '-status', 'work', `work-copy:cel=${node}`))
        .toMatchObject({ differingBlocks: k, primaryDeltaSet: current, replicaDeltaSet: current });
    }
    expect(await ok('P', 'fs_replicate', '-status', 'work', 'work-copy:cel=D1'))
      .toBe(`${k} blocks differ between work and work-copy:cel=D1\ndelta set: primary ${current}, replica ${current}\ngeneration: work 1@P, work-copy:cel=D1 1@P\n`);

    await ok('P', 'fs_replicate', '-refresh', 'work');
    const after = await json<PrimaryJson>('P', 'fs_replicate', '-info', 'work');
    expect(after.currentDeltaSet).toBeGreaterThan(current);
    expect(after.sets.find((s) => s.n === after.currentDeltaSet)!.blocks).toBe(k);
    for (const node of ['D1', 'D2'] as const) {
      expect(await json<StatusJson>('P', 'fs_replicate', '-status', 'work', `work-copy:cel=${node}`))
        .toMatchObject({ differingBlocks: 0, primaryDeltaSet: after.currentDeltaSet, replicaDeltaSet: after.currentDeltaSet });
    }
    await expectReplicated('after the -status writes');
  });

  // -----------------------------------------------------------------------------------
  // 2. The consistent view

  test('while writes go on, every read of the replica is the image after a prefix of the writes, never going back', async () => {
    const blocks = 32;
    await ok('P', 'create', 'seq', '--size', String(blocks * BLOCK), '--block-size', String(BLOCK));
    // The default group (rep-seq, routes made by -start); a set at least every second, or every ~12 blocks.
    await ok('P', 'fs_replicate', '-start', 'seq', 'seq-copy:cel=D1', '-option', 'to=1,hwm=0.05');
    await ok('P', 'fs_replicate', '-refresh', 'seq');

    let completed = 0;
    let writing = true;
    const source = cluster.file('seq-write.bin');
    const writer = (async () => {
      for (let k = 0; writing; k++) {
        const { block, data } = numberedWrite(k, blocks, BLOCK);
        await writeFile(source, data);
        await ok('P', 'write', 'seq', source, '--offset', String(block * BLOCK));
        completed = k + 1;
      }
    })();

    const seen: number[] = [];
    const until = Date.now() + 10_000;
    try {
      while (Date.now() < until) {
        const view = await image('D1', 'seq-copy');
        const p = prefixOf(view, blocks, BLOCK);
        if (typeof p === 'string') expect.fail(`read ${seen.length} of the replica: ${p}`);
        expect(p, 'the replica holds no write the primary had not completed when the read ended').toBeLessThanOrEqual(completed);
        expect(p, `read ${seen.length}: the prefix went back`).toBeGreaterThanOrEqual(seen.at(-1) ?? 0);
        seen.push(p);
      }
    } finally {
      writing = false;
      await writer;
    }
    const distinct = new Set(seen).size;
    console.log(`[replication-e2e] consistent view: ${completed} writes, ${seen.length} reads, ${distinct} distinct prefixes`);
    expect(completed).toBeGreaterThan(blocks); // every block was overwritten at least once
    expect(distinct, 'sets were cut and played during the run').toBeGreaterThanOrEqual(3);
    await ok('P', 'fs_replicate', '-refresh', 'seq');
    expect(prefixOf(await image('D1', 'seq-copy'), blocks, BLOCK)).toBe(completed);
  });

  // -----------------------------------------------------------------------------------
  // 3. Bad input

  test('bad input is refused with its code and changes nothing', async () => {
    await ok('P', 'create', 'lonely', '--size', '1M', '--block-size', String(BLOCK));
    await ok('D1', 'create', 'other', '--size', '1M', '--block-size', String(BLOCK));
    await writeAt('D1', 'other', BLOCK, prng.fill(new Uint8Array(3 * BLOCK)));
    const before = {
      P: await replications('P'),
      D1: await replications('D1'),
      D2: await replications('D2'),
      other: await image('D1', 'other'),
      copy: await image('D1', 'work-copy'),
      D1volumes: await ok('D1', 'list', '--json'),
      D2volumes: await ok('D2', 'list', '--json'),
    };

    await refused('ERR_NOT_FOUND', 'P', 'fs_replicate', '-start', 'lonely', 'lonely-copy:cel=Nowhere');
    await refused('ERR_NOT_FOUND', 'P', 'fs_replicate', '-start', 'no-such-volume', 'x-copy:cel=D1');
    expect(await refused('ERR_EXISTS', 'P', 'fs_replicate', '-start', 'lonely', 'other:cel=D1')).toContain('other');
    await refused('ERR_EXISTS', 'P', 'fs_replicate', '-start', 'work', 'work-copy:cel=D1');
    await refused('ERR_EXISTS', 'P', 'fs_replicate', '-start', 'work', 'second-copy:cel=D1');
    for (const words of ['to=abc', 'speed=5', 'to=-1', 'to=0,hwm=0', 'hwm']) {
      await refused('ERR_INVALID_ARGUMENT', 'P', 'fs_replicate', '-start', 'lonely', 'lonely-copy:cel=D1', '-option', words);
      await refused('ERR_INVALID_ARGUMENT', 'P', 'fs_replicate', '-modify', 'work', '-option', words);
    }
    await refused('ERR_USAGE', 'P', 'fs_replicate', '-start', 'lonely', 'lonely-copy@D1');
    await refused('ERR_USAGE', 'P', 'fs_replicate', '-start', 'lonely');
    await refused('ERR_USAGE', 'P', 'fs_replicate', '-refresh', 'work', '-stop');
    await refused('ERR_USAGE', null, 'fs_replicate', '-start', 'lonely', 'lonely-copy:cel=D1');
    for (const action of ['-refresh', '-info'] as const) {
      await refused('ERR_NOT_FOUND', 'P', 'fs_replicate', action, 'lonely');
      await refused('ERR_NOT_FOUND', 'P', 'fs_replicate', action, 'no-such-volume');
    }
    await refused('ERR_NOT_FOUND', 'P', 'fs_replicate', '-status', 'lonely', 'lonely-copy:cel=D1');
    await refused('ERR_NOT_FOUND', 'P', 'fs_replicate', '-status', 'work', 'work-copy:cel=F');
    await refused('ERR_NOT_FOUND', 'P', 'fs_replicate', '-stop', 'work', 'work-copy:cel=F');
    await refused('ERR_NOT_FOUND', 'P', 'fs_replicate', '-stop', 'lonely');
    // The replica is read-only.
    const path = cluster.file('replica-write.bin');
    await writeFile(path, prng.fill(new Uint8Array(BLOCK)));
    await refused('ERR_READ_ONLY', 'D1', 'write', 'work-copy', path);
    await refused('ERR_READ_ONLY', 'D1', 'discard', 'work-copy', '--offset', '0', '--length', String(BLOCK));

    expect(await replications('P')).toEqual(before.P);
    expect(await replications('D1')).toEqual(before.D1);
    expect(await replications('D2')).toEqual(before.D2);
    expect(await ok('D1', 'list', '--json')).toBe(before.D1volumes);
    expect(await ok('D2', 'list', '--json')).toBe(before.D2volumes);
    expectSame(await image('D1', 'other'), before.other, 'D1:other');
    expectSame(await image('D1', 'work-copy'), before.copy, 'D1:work-copy');
  });

  // -start asks every destination before it registers any.
  test('-start with one good and one refused destination registers neither', async () => {
    const before = { D2: await replications('D2'), routes: await ok('P', 'rcproute', 'display', '--json') };
    await refused('ERR_EXISTS', 'P', 'fs_replicate', '-start', 'lonely', 'lonely-copy:cel=D2', 'other:cel=D1');
    expect(await replications('D2')).toEqual(before.D2);
    expect(await ok('P', 'rcproute', 'display', '--json')).toBe(before.routes);
  });

  // -----------------------------------------------------------------------------------
  // 4. -list and -stop

  test('-list shows what runs; -stop of one destination of two, then of all, leaves the primary no rep-* checkpoints', async () => {
    interface ListJson { primaries: PrimaryJson[]; replicas: { sfs: string; pfs: string; primary: string; played: number | null }[] }
    const list = await json<ListJson>('P', 'fs_replicate', '-list');
    expect(list.primaries.map((p) => p.name).sort()).toEqual(['seq', 'work']);
    expect(list.replicas).toEqual([]);
    const onD1 = await json<ListJson>('D1', 'fs_replicate', '-list');
    expect(onD1.primaries).toEqual([]);
    expect(onD1.replicas.map((r) => `${r.sfs}<-${r.pfs}:cel=${r.primary}`).sort()).toEqual(['seq-copy<-seq:cel=P', 'work-copy<-work:cel=P']);
    const text = await ok('P', 'fs_replicate', '-list');
    expect(text).toMatch(/^work\treplication\t\w+\tset \d+\t-> work-copy:cel=D1, work-copy:cel=D2$/m);

    const stopped = await json<{ stopped: string[] }>('P', 'fs_replicate', '-stop', 'work', 'work-copy:cel=D2');
    expect(stopped).toEqual({ stopped: ['D2'] });
    const one = await json<PrimaryJson>('P', 'fs_replicate', '-info', 'work');
    expect(one.destinations.map((d) => d.node)).toEqual(['D1']);
    // The remaining destination still replicates; D2 keeps what it had and gets no more.
    const d2Before = await image('D2', 'work-copy');
    await randomRound(5);
    await ok('P', 'fs_replicate', '-refresh', 'work');
    expectSame(await image('D1', 'work-copy'), model, 'D1:work-copy after -stop of D2');
    expectSame(await image('D2', 'work-copy'), d2Before, 'D2:work-copy after it was stopped');

    expect(await json<{ stopped: string[] }>('P', 'fs_replicate', '-stop', 'work')).toEqual({ stopped: ['D1'] });
    expect((await json<ListJson>('P', 'fs_replicate', '-list')).primaries.map((p) => p.name)).toEqual(['seq']);
    await refused('ERR_NOT_FOUND', 'P', 'fs_replicate', '-info', 'work');
    expect((await checkpointsOf('P', 'work')).filter((c) => c.startsWith('rep-'))).toEqual([]);

    expect(await json<{ stopped: string[] }>('P', 'fs_replicate', '-stop', 'seq')).toEqual({ stopped: ['D1'] });
    expect((await json<ListJson>('P', 'fs_replicate', '-list')).primaries).toEqual([]);
    expect((await checkpointsOf('P', 'seq')).filter((c) => c.startsWith('rep-'))).toEqual([]);
    // Writes on the primary go on without replication.
    await randomRound(3);
    expectSame(await image('P', 'work'), model, 'P:work after -stop');
  });

  // -----------------------------------------------------------------------------------
  // Last (it kills D2): a destination left behind.

  // While D2 is away, D1 is sent delta(D2's set, newest) and plays it on the set it holds,
  // which the primary vouches for; a block written in a set D1 played and discarded
  // afterwards is in use at neither end, so replication streams send every block unused at
  // the newest end as unused (test/replication/receiver.test.ts has the same case in-process).
  test('a destination ahead of another one that is away still gets every discard', async () => {
    await ok('P', 'create', 'vz', '--size', String(64 * BLOCK), '--block-size', String(BLOCK));
    await writeAt('P', 'vz', 0, Buffer.alloc(BLOCK, 7));
    await ok('P', 'fs_replicate', '-start', 'vz', 'vz-copy:cel=D1', 'vz-copy:cel=D2', '-option', 'to=1');
    await ok('P', 'fs_replicate', '-refresh', 'vz');
    const playedBy = async (node: NodeName) =>
      (await json<PrimaryJson>('P', 'fs_replicate', '-info', 'vz')).destinations.find((d) => d.node === node)!.currentDeltaSet!;
    /** Waits (bounded) until D1 plays a set newer than `set`, cut by the timeout. */
    const d1PlaysPast = async (set: number) => {
      for (let i = 0; i < 100 && (await playedBy('D1')) <= set; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await playedBy('D1'), 'D1 played a newer set').toBeGreaterThan(set);
      return playedBy('D1');
    };
    const start = await playedBy('D1');
    await cluster.node('D2').kill();
    await writeAt('P', 'vz', 5 * BLOCK, Buffer.alloc(BLOCK, 9)); // in use in the next set only
    const next = await d1PlaysPast(start);
    await ok('P', 'discard', 'vz', '--offset', String(5 * BLOCK), '--length', String(BLOCK));
    await writeAt('P', 'vz', 9 * BLOCK, Buffer.alloc(BLOCK, 3));
    await d1PlaysPast(next);
    expect(await playedBy('D2')).toBe(start);
    expectSame(await image('D1', 'vz-copy'), await image('P', 'vz'), 'D1:vz-copy against P:vz');
  });
});
