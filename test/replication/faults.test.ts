// Replication under faults (issue 9, "Faults"), with real `snapcopy serve` processes on
// 127.0.0.1:
//
//            P ──▶ proxy ──▶ D1       pfs  → r1 on D1 and r2 on D2 (through F)
//            └───▶ F ──▶ D2           pfs2 → p2 on D1; the proxy delays and cuts
//            P ──▶ D3 (small tmpfs)   pfs3 → r3 on D3, whose disk fills up
//            P ──▶ D2                 pfs4 → r4 on D2, whose node is SIGSTOPped
//
// 1. kill -9 of P, D1, D2 and F at seeded random moments (some chosen while P reports
//    cutting or sending) while a writer keeps writing to P with to=1: after restarts and
//    a refresh, every replica equals the primary, was never re-created (same uuid), and
//    every set sent after the first copy is a delta, never a full copy.
// 2. A proxy that delays and cuts the connections between P and D1: sessions resume,
//    replication completes and equals the primary.
// 3. D3's data directory on a 24 MiB tmpfs: the replica's disk fills, P reports
//    ERR_NO_SPACE for it and keeps taking writes; once space is freed a refresh succeeds.
// 4. A destination that stops answering (SIGSTOP): P reports it (stalled, or an error
//    with a code) within the RCP give-up time; after SIGCONT a refresh succeeds.
//
// Runs once, in the `wasm` project only. Replay with
// SNAPCOPY_SEED=<seed> npx vitest run test/replication/faults.test.ts --project wasm.

import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rename, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { Cluster, sleep } from '../helpers/cluster.js';
import { NodeProcess } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';
import {
  type PrimaryInfo, Writer, callApi, cliWithin, expectSameVolume, infoJson, ok, pollInfo, refreshUntilDone, repCheckpoints, uuidOf,
} from '../helpers/replication-faults.js';

const SECRET = 'replication-faults-secret-7d1e';
const NODES = ['P', 'F', 'D1', 'D2', 'D3'] as const;
type Name = typeof NODES[number];
const BLOCK = 4096;
const MiB = 1024 * 1024;
/** RCP timers short enough for a test (the cluster's TUNING): a silent link is dead after 3 s, a destination given up after 10 s. */
const GIVE_UP_MS = 10_000;

describe.runIf(backend === 'wasm')('replication under faults', () => {
  const seed = testSeed('replication-faults');
  const cluster = new Cluster<Name>({ prefix: 'snapcopy-rep-faults-', secret: SECRET, nodes: NODES, behindProxies: ['D1'] });

  beforeAll(async () => {
    await ensureBuilt();
    await cluster.start();
  }, 300_000);

  let mountedDisk: string | undefined;

  afterAll(async () => {
    await NodeProcess.stopAll();
    if (mountedDisk) execFileSync('umount', [mountedDisk]);
    await cluster.stop();
  });

  /**
   * Moves a node's data directory onto a 24 MiB tmpfs: stops the node, mounts the tmpfs
   * over the directory (its content copied across) and starts it again. False when mount is not permitted.
   */
  async function mountSmallDisk(dir: string): Promise<boolean> {
    if (process.getuid?.() !== 0) return false;
    const name = NODES.find((n) => join(cluster.root, n) === dir)!;
    await cluster.node(name).stop();
    const aside = `${dir}.aside`;
    await rename(dir, aside);
    await mkdir(dir);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir], { stdio: 'pipe' });
    } catch {
      await rm(dir, { recursive: true });
      await rename(aside, dir);
      await cluster.restart(name);
      return false;
    }
    mountedDisk = dir;
    execFileSync('cp', ['-a', `${aside}/.`, dir]);
    await rm(aside, { recursive: true });
    await cluster.restart(name);
    return true;
  }

  /** A primary volume of `bytes`, filled with seeded data so a full copy is the whole volume. */
  async function primaryVolume(fs: string, bytes: number, fillSeed: number): Promise<void> {
    await ok(cluster, 'P', 'create', fs, '--size', String(bytes), '--block-size', String(BLOCK));
    const file = cluster.file(`${fs}.fill`);
    await writeFile(file, new Prng(fillSeed).fill(new Uint8Array(bytes)));
    await ok(cluster, 'P', 'write', fs, file);
  }

  /** What P holds for a failed refresh's report: its record of the replication and the volume's checkpoints. */
  async function stateOf(pfs: string): Promise<string> {
    const record = await readFile(join(cluster.root, 'P', 'replication', 'out', `${pfs}.json`), 'utf8').catch((e: Error) => e.message);
    const ckpts = await cliWithin(cluster, 'P', 20_000, 'ckpt', 'list', pfs).then((r) => r.stdout + r.stderr, (e: Error) => e.message);
    return `--- P: replication/out/${pfs}.json ---\n${record}\n--- P: ckpt list ${pfs} ---\n${ckpts}`;
  }

  test('kill -9 of the primary, a destination and the forwarder at random points: no loss, no full copy', async () => {
    const prng = new Prng(seed);
    const volumeBytes = 8 * MiB;
    await primaryVolume('pfs', volumeBytes, seed + 1);
    // P sends group rep-pfs to D1 and to the forwarder F, which forwards it to D2 only.
    await ok(cluster, 'P', 'server_config', 'P', 'rep rep-pfs add D1');
    await ok(cluster, 'P', 'server_config', 'P', 'rep rep-pfs add F');
    await ok(cluster, 'P', 'server_config', 'P', 'volmcast rep-pfs -src pfs');
    await ok(cluster, 'F', 'rcproute', 'add', 'group=rep-pfs', 'nexthop=D2');
    await ok(cluster, 'P', 'fs_replicate', '-start', 'pfs', 'r1:cel=D1', 'r2:cel=D2', '-option', 'to=1,hwm=1');
    await refreshUntilDone(cluster, 'P', 'pfs', 30_000);
    const first = await infoJson(cluster, 'P', 'pfs');
    const fullCopyBytes = Math.min(...first.destinations.map((d) => d.lastSuccess?.bytes ?? 0));
    expect(fullCopyBytes, 'the first set is a full copy of the filled volume').toBeGreaterThanOrEqual(volumeBytes);
    const uuids = { r1: await uuidOf(cluster, 'D1', 'r1'), r2: await uuidOf(cluster, 'D2', 'r2') };
    const firstSets = { r1: await repCheckpoints(cluster, 'D1', 'r1'), r2: await repCheckpoints(cluster, 'D2', 'r2') };

    // Every set P reports sent after the first copy, as seen by polling: none may be a full copy.
    const sentSizes: number[] = [];
    const seenSuccess = new Map<string, number>(first.destinations.map((d) => [d.node, d.lastSuccess?.at ?? 0]));
    let lastInfo: PrimaryInfo | undefined;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const info = await pollInfo(cluster, 'P', 'pfs');
        if (info) {
          lastInfo = info;
          for (const d of info.destinations) {
            if (d.lastSuccess && d.lastSuccess.at !== seenSuccess.get(d.node)) {
              seenSuccess.set(d.node, d.lastSuccess.at);
              sentSizes.push(d.lastSuccess.bytes);
            }
          }
        }
        await sleep(25);
      }
    })();

    // Writes of up to 32 KiB every 40 ms or so (~300 KB/s): a set a second (to=1).
    const writer = new Writer(cluster, 'P', 'pfs', { seed: seed + 2, volumeBytes, maxPiece: 32 * 1024, pauseMs: 40 });
    writer.start();
    const roles: Name[] = ['P', 'D1', 'F', 'D2'];
    const kills: string[] = [];
    try {
      for (let k = 0; k < 12; k++) {
        const role = roles[k % roles.length]!;
        // Half the kills wait for P to be cutting or sending (mid-cut, mid-send, mid-playback); the others land anywhere.
        const waitForWork = prng.chance(0.5);
        const delay = prng.int(200, 1500);
        const until = performance.now() + delay;
        if (waitForWork) {
          const bound = performance.now() + 4000;
          while (performance.now() < bound && !(lastInfo && (lastInfo.state === 'cutting' || lastInfo.state === 'sending'))) await sleep(5);
        } else {
          await sleep(Math.max(0, until - performance.now()));
        }
        kills.push(`${role}@${lastInfo?.state ?? '?'}${lastInfo?.sending ? `(${lastInfo.sending.from}->${lastInfo.sending.to})` : ''}`);
        await cluster.node(role).kill();
        await sleep(prng.int(0, 400));
        await cluster.restart(role);
      }
    } finally {
      await writer.stop();
    }
    console.log(`[replication-faults] kills (role@P's state): ${kills.join(' ')}; writes ${writer.written} ok, ${writer.failed} failed`);

    const retries = await refreshUntilDone(cluster, 'P', 'pfs', 45_000).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await stateOf('pfs')}`);
    });
    polling = false;
    await poller;
    if (retries.length) console.log(`[replication-faults] refresh needed ${retries.length + 1} tries: ${retries.join(' | ')}`);
    await expectSameVolume(cluster, ['P', 'pfs'], ['D1', 'r1'], BLOCK);
    await expectSameVolume(cluster, ['P', 'pfs'], ['D2', 'r2'], BLOCK);

    // Never re-created, and the played sets moved on.
    expect(await uuidOf(cluster, 'D1', 'r1')).toBe(uuids.r1);
    expect(await uuidOf(cluster, 'D2', 'r2')).toBe(uuids.r2);
    const info = await infoJson(cluster, 'P', 'pfs');
    for (const [node, sfs] of [['D1', 'r1'], ['D2', 'r2']] as const) {
      const sets = await repCheckpoints(cluster, node, sfs);
      expect(sets, `${sfs} on ${node} keeps the newest played set only`).toHaveLength(1);
      expect(sets[0]!).toBeGreaterThan(Math.max(...firstSets[sfs]));
      expect(info.destinations.find((d) => d.node === node)?.currentDeltaSet).toBe(sets[0]);
    }
    console.log(`[replication-faults] sets sent after the first copy (${fullCopyBytes} bytes): ${sentSizes.length}, largest ${Math.max(0, ...sentSizes)} bytes`);
    expect(sentSizes.length).toBeGreaterThan(0);
    // The writer changes at most ~2 MiB between two kills; a full copy would be the whole 8 MiB.
    for (const size of sentSizes) expect(size, 'a set sent after a restart is a delta, not a full copy').toBeLessThan(fullCopyBytes / 2);
    cluster.expectRunning();
  }, 150_000);
  test('a proxy that delays and cuts the path to a destination: sessions resume, the replica equals the primary', async () => {
    const prng = new Prng(seed + 10);
    const volumeBytes = 4 * MiB;
    await primaryVolume('pfs2', volumeBytes, seed + 11);
    // D1 listens behind a proxy that every node knows it by (the peers file), so P's route to D1 goes through it.
    // (A route to the proxy's host:port would do as well, but a replication session to a next hop named by its
    // address fails today: reported to the lead.)
    const proxy = cluster.proxy('D1');
    await ok(cluster, 'P', 'fs_replicate', '-start', 'pfs2', 'p2:cel=D1', '-option', 'to=1,hwm=1');
    await refreshUntilDone(cluster, 'P', 'pfs2', 30_000);
    const connectionsBefore = proxy.connections;

    proxy.setDelay(30);
    const writer = new Writer(cluster, 'P', 'pfs2', { seed: seed + 12, volumeBytes, maxPiece: 128 * 1024, pauseMs: 30 });
    writer.start();
    // Resumptions seen in P's sessions (a session's hop lists each resumption while the session is kept).
    const resumes = new Map<string, number>();
    let cuts = 0;
    try {
      const end = performance.now() + 10_000;
      while (performance.now() < end) {
        // Half the cuts when a few hundred KB more have gone up (mid-session), half at a random moment.
        if (prng.chance(0.5)) proxy.cutAfterBytes(proxy.bytesUp + prng.int(20_000, 400_000));
        else proxy.cut({ reset: prng.chance(0.5) });
        cuts++;
        const next = performance.now() + prng.int(300, 900);
        while (performance.now() < next) {
          const sessions = await cluster.sessionsOf('P').catch(() => []);
          for (const session of sessions) {
            if (session.group !== 'rep-pfs2') continue;
            const hops = session.hops as unknown as { stats?: { resumes?: unknown[] } }[];
            const count = hops.reduce((n, h) => n + (h.stats?.resumes?.length ?? 0), 0);
            resumes.set(session.id, Math.max(resumes.get(session.id) ?? 0, count));
          }
          await sleep(20);
        }
      }
    } finally {
      proxy.cutAfterBytes(undefined);
      await writer.stop();
    }
    const resumed = [...resumes.values()].reduce((a, b) => a + b, 0);
    console.log(`[replication-faults] proxy: ${cuts} cuts, ${proxy.connections - connectionsBefore} connections, ${resumes.size} sessions seen, ${resumed} resumptions; writes ${writer.written} ok, ${writer.failed} failed`);
    const retries = await refreshUntilDone(cluster, 'P', 'pfs2', 45_000).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await stateOf('pfs2')}`);
    });
    if (retries.length) console.log(`[replication-faults] proxy: refresh needed ${retries.length + 1} tries: ${retries.join(' | ')}`);
    proxy.setDelay(0);
    expect(writer.failed, 'the primary takes every write').toBe(0);
    await expectSameVolume(cluster, ['P', 'pfs2'], ['D1', 'p2'], BLOCK);
    expect(proxy.connections - connectionsBefore, 'every cut made P dial again').toBeGreaterThan(cuts / 2);
    expect(resumed, 'RCP resumed aborted sessions instead of starting them over').toBeGreaterThan(0);
    const info = await infoJson(cluster, 'P', 'pfs2');
    expect(info.destinations[0]).toMatchObject({ node: 'D1', state: 'in-sync', currentDeltaSet: info.currentDeltaSet });
  }, 90_000);
  test('a destination whose disk fills: P reports ERR_NO_SPACE and keeps taking writes; freed, it catches up', async (t) => {
    const d3 = join(cluster.root, 'D3');
    if (!(await mountSmallDisk(d3))) t.skip('needs root to mount a 24 MiB tmpfs (mount -t tmpfs)');
    const volumeBytes = 32 * MiB;
    await ok(cluster, 'P', 'create', 'pfs3', '--size', String(volumeBytes), '--block-size', String(BLOCK));
    const first = cluster.file('pfs3.first');
    await writeFile(first, new Prng(seed + 20).fill(new Uint8Array(2 * MiB)));
    await ok(cluster, 'P', 'write', 'pfs3', first);
    await ok(cluster, 'P', 'fs_replicate', '-start', 'pfs3', 'r3:cel=D3', '-option', 'to=1,hwm=1');
    await refreshUntilDone(cluster, 'P', 'pfs3', 30_000);
    // Use up all but ~4 MiB of D3's disk with a file given back later.
    const filler = join(d3, 'filler');
    const free = (await statfs(d3)).bavail * (await statfs(d3)).bsize;
    await writeFile(filler, new Uint8Array(Math.max(0, free - 4 * MiB)));

    // 16 MiB more on P, in 1 MiB writes: each must be taken at once, whatever D3 says.
    const prng = new Prng(seed + 21);
    let slowest = 0;
    let reported: PrimaryInfo['destinations'][number] | undefined;
    for (let i = 0; i < 16 || (reported === undefined && i < 60); i++) {
      const offset = (2 + (i % 28)) * MiB;
      const started = performance.now();
      const reply = await callApi(cluster, 'P', 'PUT', `/v1/volumes/pfs3/data?offset=${offset}`, prng.fill(new Uint8Array(MiB)), 15_000);
      expect(reply.status, `write ${i} to pfs3: ${reply.text}`).toBeLessThan(300);
      slowest = Math.max(slowest, performance.now() - started);
      reported = (await pollInfo(cluster, 'P', 'pfs3'))?.destinations.find((d) => d.lastError?.code === 'ERR_NO_SPACE');
      if (i >= 16) await sleep(250);
    }
    const info = await infoJson(cluster, 'P', 'pfs3');
    console.log(`[replication-faults] disk full: slowest write ${slowest.toFixed(0)} ms; D3 ${JSON.stringify(info.destinations[0])}`);
    expect(reported, `P reports D3's full disk: ${JSON.stringify(info.destinations)}`).toBeDefined();
    expect(slowest, 'writes on the primary never wait for the destination').toBeLessThan(5000);
    const text = await ok(cluster, 'P', 'fs_replicate', '-info', 'pfs3');
    expect(text).toMatch(/ERR_NO_SPACE/);

    await rm(filler);
    const retries = await refreshUntilDone(cluster, 'P', 'pfs3', 45_000).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await stateOf('pfs3')}`);
    });
    console.log(`[replication-faults] disk full: refresh after freeing space took ${retries.length + 1} tries`);
    await expectSameVolume(cluster, ['P', 'pfs3'], ['D3', 'r3'], BLOCK);
  }, 120_000);

  test('a destination that stops answering (SIGSTOP) is reported within the watchdog and give-up times; after SIGCONT it catches up', async () => {
    const volumeBytes = 4 * MiB;
    await primaryVolume('pfs4', volumeBytes, seed + 30);
    const watchdogSeconds = 3;
    await ok(cluster, 'P', 'fs_replicate', '-start', 'pfs4', 'r4:cel=D2', '-option', `to=1,hwm=1,watchdog=${watchdogSeconds}`);
    await refreshUntilDone(cluster, 'P', 'pfs4', 30_000);
    const d2 = cluster.node('D2');
    const writer = new Writer(cluster, 'P', 'pfs4', { seed: seed + 31, volumeBytes, maxPiece: 256 * 1024, pauseMs: 50 });
    d2.child.kill('SIGSTOP');
    const stoppedAt = performance.now();
    let seen: string | undefined;
    try {
      writer.start();
      // The watchdog gives a send that moves nothing up after `watchdog` s; RCP gives a silent destination up after GIVE_UP_MS.
      const bound = stoppedAt + watchdogSeconds * 1000 + GIVE_UP_MS + 5000;
      while (seen === undefined && performance.now() < bound) {
        const info = await pollInfo(cluster, 'P', 'pfs4');
        const error = info?.destinations.find((d) => d.node === 'D2')?.lastError;
        if (info?.state === 'stalled') seen = 'stalled';
        else if (error?.code) seen = `error ${error.code}: ${error.message}`;
        else await sleep(100);
      }
    } finally {
      d2.child.kill('SIGCONT');
      await writer.stop();
    }
    const after = (performance.now() - stoppedAt) / 1000;
    console.log(`[replication-faults] SIGSTOP: P reported ${seen ?? 'nothing'} after ${after.toFixed(1)} s; writes ${writer.written} ok, ${writer.failed} failed, slowest ${writer.slowestMs.toFixed(0)} ms`);
    expect(seen, `P's -info shows the stopped destination within ${watchdogSeconds} s + ${GIVE_UP_MS / 1000} s:\n${JSON.stringify(await pollInfo(cluster, 'P', 'pfs4'), null, 2)}`).toBeDefined();
    expect(writer.failed, 'the primary takes every write meanwhile').toBe(0);
    await refreshUntilDone(cluster, 'P', 'pfs4', 45_000).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await stateOf('pfs4')}`);
    });
    await expectSameVolume(cluster, ['P', 'pfs4'], ['D2', 'r4'], BLOCK);
    cluster.expectRunning();
  }, 90_000);
});
