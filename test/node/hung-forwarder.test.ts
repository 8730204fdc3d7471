// A forwarder that stops acknowledging without going away (FIG. 16): F1 is frozen with
// SIGSTOP mid-transfer, so its connections stay open but nothing comes back. O notices
// the silence (--rcp-dead-after), cannot get a handshake from F1, and after
// --rcp-cover-after serves F1's leaves itself. The transfer completes everywhere; when
// F1 is thawed it does not disturb the leaves, and it carries the next transfer.
//
//        O
//        |
//  proxy → F1 (SIGSTOP)
//        /  \
//       L1  L2
//
// Runs once, in the `wasm` project. Replay the file with SNAPCOPY_SEED=<seed>.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, MiB, framesOf, onlyOnce, sleep, writeSeededFile } from '../helpers/cluster.js';
import { testSeed } from '../helpers/prng.js';

const NODES = ['O', 'F1', 'L1', 'L2'] as const;
const LEAVES = ['L1', 'L2'] as const;
/** Silence closes a link after 1 s; a next hop down for 300 ms is covered for; give-up is far away. */
const ARGS = ['--rcp-keepalive', '100', '--rcp-dead-after', '1000', '--rcp-cover-after', '300', '--rcp-give-up', '20000'];

describe.skipIf(onlyOnce)('a forwarder that stops acknowledging is covered for', () => {
  const seed = testSeed('hung-forwarder');
  const cluster = new Cluster({ prefix: 'snapcopy-hung-forwarder-', secret: 'hung-forwarder-secret-1', nodes: NODES, behindProxies: ['F1'], args: ARGS });

  beforeAll(async () => {
    await cluster.start();
    await cluster.routes({ O: [['g1', 'F1']], F1: [['g1', 'L1'], ['g1', 'L2']], L1: [['g1', 'L1']], L2: [['g1', 'L2']] });
  }, 60_000);

  afterAll(async () => {
    const f1 = cluster.nodes.get('F1');
    if (f1 && f1.exitCode === null && f1.signalCode === null) process.kill(f1.pid!, 'SIGCONT');
    await cluster.stop();
  });

  it('SIGSTOP of F1 mid-transfer: O serves L1 and L2 itself; after SIGCONT, F1 carries the next transfer', async () => {
    const size = 32 * MiB + 777;
    const file = cluster.file('frozen.bin');
    const expected = await writeSeededFile(file, size, seed);
    const toF1 = cluster.proxy('F1');
    const f1 = cluster.node('F1');

    toF1.setDelay(40);
    const run = cluster.startRcptest(file);
    const deadline = performance.now() + 30_000;
    while (toF1.bytesUp < 6 * MiB && !run.done() && performance.now() < deadline) await sleep(5);
    if (run.done()) throw new Error(`the transfer ended before F1 could be frozen: ${await run.why()}`);
    process.kill(f1.pid!, 'SIGSTOP');
    toF1.setDelay(0);

    const { result, json } = await run.result;
    process.kill(f1.pid!, 'SIGCONT');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    for (const leaf of LEAVES) expect(json.destinations[leaf]).toEqual({ status: 'ok', acked: framesOf(size) });
    const covering = json.hops.filter((h) => h.coveringFor === 'F1').map((h) => h.name).sort();
    expect(covering).toEqual(['L1', 'L2']);
    await cluster.expectDelivered(LEAVES, 'frozen.bin', expected);

    // Thawed, F1 finds its links gone; the leaves keep the session O gave them, each frame once.
    await sleep(500);
    for (const leaf of LEAVES) {
      const session = (await cluster.sessionsOf(leaf)).find((s) => s.group === 'g1' && s.end === framesOf(size));
      expect(session).toMatchObject({ have: framesOf(size), stats: { duplicates: 0 } });
    }

    // And F1 forwards the next session as before.
    const next = cluster.file('after.bin');
    const nextBytes = await writeSeededFile(next, 3 * MiB + 5, seed + 1);
    const second = await cluster.rcptest(next, 'g1');
    expect(second.result.code).toBe(0);
    expect(second.json.hops.map((h) => `${h.name}:${h.coveringFor ?? ''}`)).toEqual(['F1:']);
    await cluster.expectDelivered(LEAVES, 'after.bin', nextBytes);
    cluster.expectRunning();
  }, 90_000);
});
