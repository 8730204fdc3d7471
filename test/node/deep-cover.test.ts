// Two forwarders in a chain die together: O → F1 → F2 → L1, L2. Each node reports its
// next hops upstream with the next hops they reported (ROUTES is a tree), so O, finding
// F1 gone, tries F1's next hop F2, finds it gone too, and serves F2's leaves itself.
//
// Runs once, in the `wasm` project. Replay the file with SNAPCOPY_SEED=<seed>.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, MiB, framesOf, onlyOnce, sleep, writeSeededFile } from '../helpers/cluster.js';
import { testSeed } from '../helpers/prng.js';

const NODES = ['O', 'F1', 'F2', 'L1', 'L2'] as const;
const LEAVES = ['L1', 'L2'] as const;

describe.skipIf(onlyOnce)('covering reaches past more than one failed forwarder', () => {
  const seed = testSeed('deep-cover');
  const cluster = new Cluster({ prefix: 'snapcopy-deep-cover-', secret: 'deep-cover-secret-0001', nodes: NODES, behindProxies: ['F1'] });

  beforeAll(async () => {
    await cluster.start();
    await cluster.routes({ O: [['g1', 'F1']], F1: [['g1', 'F2']], F2: [['g1', 'L1'], ['g1', 'L2']], L1: [['g1', 'L1']], L2: [['g1', 'L2']] });
  }, 60_000);

  afterAll(() => cluster.stop());

  it('F1 and F2 killed mid-transfer: O serves L1 and L2, each from where it stood', async () => {
    const size = 32 * MiB + 4321;
    const file = cluster.file('chain.bin');
    const expected = await writeSeededFile(file, size, seed);
    const toF1 = cluster.proxy('F1');

    toF1.setDelay(40);
    const run = cluster.startRcptest(file);
    const deadline = performance.now() + 30_000;
    while (toF1.bytesUp < 6 * MiB && !run.done() && performance.now() < deadline) await sleep(5);
    if (run.done()) throw new Error(`the transfer ended before the forwarders could be killed: ${await run.why()}`);
    // O has heard F2's routes through F1 by now: F2 reported them when it opened its hops.
    await Promise.all([cluster.node('F1').kill(), cluster.node('F2').kill()]);
    toF1.setDelay(0);

    const { result, json } = await run.result;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(Object.keys(json.destinations).sort()).toEqual([...LEAVES]);
    for (const leaf of LEAVES) expect(json.destinations[leaf]).toEqual({ status: 'ok', acked: framesOf(size) });
    const hops = Object.fromEntries(json.hops.map((h) => [h.name, h]));
    expect(hops.F2?.coveringFor).toBe('F1');
    expect(hops.L1?.coveringFor).toBe('F2');
    expect(hops.L2?.coveringFor).toBe('F2');
    await cluster.expectDelivered(LEAVES, 'chain.bin', expected);
    for (const leaf of LEAVES) {
      const session = (await cluster.sessionsOf(leaf)).find((s) => s.group === 'g1');
      expect(session).toMatchObject({ have: framesOf(size), stats: { duplicates: 0 } });
    }
  }, 90_000);
});
