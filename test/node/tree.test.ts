// An RCP multicast tree of seven `snapcopy serve` processes, configured with the CLI the
// way an operator would:
//
//                 O
//              /     \
//            F1       F2          forwarders: routes to their children only
//           /  \     /  \
//          L1  L2   L3  L4        leaves: a route to themselves ("deliver here")
//
// `rcptest` at O sends a file to every destination of the group; each leaf stores it
// under <data>/rcptest/<name>. The suite checks byte-exact delivery, that forwarders are
// not destinations, that sessions are independent, the routing table display, and the
// two ways a group can be unknown (at the origin: the command fails at once; at a
// forwarder: that subtree is reported failed and the rest of the tree still gets the
// file).
//
// Multi-process network tests run once, in the `wasm` project only (the kernels play no
// part here). Random file contents come from the printed seed: replay with
// SNAPCOPY_SEED=<seed> npx vitest run test/node/tree.test.ts --project wasm.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, MiB, framesOf, onlyOnce, writeSeededFile } from '../helpers/cluster.js';
import { testSeed } from '../helpers/prng.js';

const SECRET = 'tree-test-secret-0123456789';
const NODES = ['O', 'F1', 'F2', 'L1', 'L2', 'L3', 'L4'] as const;
const LEAVES = ['L1', 'L2', 'L3', 'L4'] as const;

describe.skipIf(onlyOnce)('an RCP tree of seven nodes: O → F1, F2 → L1..L4', () => {
  const seed = testSeed('tree');
  const cluster = new Cluster({ prefix: 'snapcopy-tree-', secret: SECRET, nodes: NODES });

  beforeAll(async () => {
    await cluster.start();
    await cluster.routes({
      O: [['g1', 'F1'], ['g1', 'F2'], ['g2', 'F1'], ['g2', 'F2']],
      F1: [['g1', 'L1'], ['g1', 'L2']],
      F2: [['g1', 'L3'], ['g1', 'L4'], ['g2', 'L3']],
      L1: [['g1', 'L1']],
      L2: [['g1', 'L2']],
      L3: [['g1', 'L3'], ['g2', 'L3']],
      L4: [['g1', 'L4']],
    });
  }, 60_000);

  afterAll(() => cluster.stop());

  it('rcproute display shows each node its own routes', async () => {
    const f1 = await cluster.cli('F1', 'rcproute', 'display');
    expect(f1.code).toBe(0);
    expect(f1.stdout.trim().split('\n')).toEqual(['group=g1 nexthop=L1', 'group=g1 nexthop=L2']);

    const o = await cluster.cli('O', 'rcproute', 'display', '--json');
    expect(o.code).toBe(0);
    expect(JSON.parse(o.stdout)).toEqual({ g1: ['F1', 'F2'], g2: ['F1', 'F2'] });

    const l1 = await cluster.cli('L1', 'rcproute', 'display', '--json');
    expect(JSON.parse(l1.stdout)).toEqual({ g1: ['L1'] });
  });

  it('a ~24 MiB file reaches every leaf byte for byte; the forwarders are not destinations', async () => {
    const size = 24 * MiB + 123_457; // not a multiple of the 256 KiB frame
    const file = cluster.file('big.bin');
    const expected = await writeSeededFile(file, size, seed);

    const { result, json } = await cluster.rcptest(file, 'g1');
    console.log(`[tree] ${size} bytes to 4 leaves in ${json.seconds?.toFixed(2)} s`);

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(json.group).toBe('g1');
    expect(json.name).toBe('big.bin');
    expect(json.bytes).toBe(size);
    expect(Object.keys(json.destinations).sort()).toEqual([...LEAVES]);
    for (const leaf of LEAVES) expect(json.destinations[leaf]).toEqual({ status: 'ok', acked: framesOf(size) });
    // O's next hops are the two forwarders, both still open, nothing resent on a clean run.
    expect(json.hops.map((h) => h.name).sort()).toEqual(['F1', 'F2']);
    for (const hop of json.hops) {
      expect(hop.coveringFor).toBeUndefined();
      expect(hop.stats.sent).toBe(framesOf(size));
      expect(hop.stats.resent).toBe(0);
      expect(hop.stats.resumes).toEqual([]);
    }
    await cluster.expectDelivered(LEAVES, 'big.bin', expected);

    // Each leaf took every frame once, from its forwarder; each forwarder from O.
    for (const [leaf, forwarder] of [['L1', 'F1'], ['L2', 'F1'], ['L3', 'F2'], ['L4', 'F2']] as const) {
      const sessions = (await cluster.sessionsOf(leaf)).filter((s) => s.group === 'g1');
      expect(sessions).toHaveLength(1);
      expect(sessions[0]).toMatchObject({ origin: 'O', have: framesOf(size), end: framesOf(size), stats: { frames: framesOf(size), duplicates: 0 } });
      expect([forwarder, undefined]).toContain(sessions[0]!.upstream);
    }
    // No file ends up on a forwarder or on the origin's receiving side.
    await cluster.expectNotDelivered(['O', 'F1', 'F2'], 'big.bin');
  }, 90_000);

  it('a group unknown at the origin: exit 1, ERR_UNKNOWN_GROUP, nothing sent', async () => {
    const file = cluster.file('unknown.bin');
    await writeSeededFile(file, 1000, seed + 1);

    const result = await cluster.cli('O', 'rcptest', `data=${file}`, 'group=nosuch', '--json');

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('ERR_UNKNOWN_GROUP');
    expect(result.stderr).toContain('nosuch');
    await cluster.expectNotDelivered(LEAVES, 'unknown.bin');
    expect(await cluster.sessionsOf('O')).toEqual([]);
  }, 60_000);

  it('a group unknown at a forwarder: that subtree is reported failed, the rest of the tree gets the file', async () => {
    // O routes g2 to F1 and F2; F1 has no route for g2; F2 sends g2 on to L3 only.
    const size = 3 * MiB + 777;
    const file = cluster.file('g2.bin');
    const expected = await writeSeededFile(file, size, seed + 2);

    const { result, json } = await cluster.rcptest(file, 'g2');

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('1 destination(s) did not acknowledge the whole file');
    // F1 refused before it could name anything below it, so it stands for its subtree.
    expect(Object.keys(json.destinations).sort()).toEqual(['F1', 'L3']);
    expect(json.destinations.L3).toEqual({ status: 'ok', acked: framesOf(size) });
    expect(json.destinations.F1).toMatchObject({ status: 'failed', acked: 0 });
    // The JSON carries F1's words and the code: "F1: node F1 has no route for group g2 [ERR_UNKNOWN_GROUP]".
    expect(json.destinations.F1!.error).toBe('F1: node F1 has no route for group g2 [ERR_UNKNOWN_GROUP]');
    const f1 = json.hops.find((h) => h.name === 'F1');
    expect(f1?.state).toBe('failed');
    expect(f1?.stats.resumes).toEqual([]);
    expect(json.hops.find((h) => h.name === 'F2')?.state).toBe('open');

    await cluster.expectDelivered(['L3'], 'g2.bin', expected);
    await cluster.expectNotDelivered(['L1', 'L2', 'L4'], 'g2.bin');
    expect((await cluster.sessionsOf('F1')).filter((s) => s.group === 'g2')).toEqual([]);
  }, 60_000);

  it('after those failures O keeps serving: two rcptests at once, independent sessions, both complete', async () => {
    const sizes = { 'one.bin': 9 * MiB + 1, 'two.bin': 5 * MiB - 3 } as const;
    const expected = new Map<string, Buffer>();
    for (const [i, [name, size]] of Object.entries(sizes).entries()) {
      expected.set(name, await writeSeededFile(cluster.file(name), size, seed + 10 + i));
    }

    const [one, two] = await Promise.all([cluster.rcptest(cluster.file('one.bin'), 'g1'), cluster.rcptest(cluster.file('two.bin'), 'g1')]);

    for (const [{ result, json }, name] of [[one, 'one.bin'], [two, 'two.bin']] as const) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(json.name).toBe(name);
      expect(Object.keys(json.destinations).sort()).toEqual([...LEAVES]);
      for (const leaf of LEAVES) expect(json.destinations[leaf]).toEqual({ status: 'ok', acked: framesOf(sizes[name]) });
      await cluster.expectDelivered(LEAVES, name, expected.get(name)!);
    }
    // Two sessions of g1 at a leaf besides the first test's: distinct ids, each whole.
    const atL4 = (await cluster.sessionsOf('L4')).filter((s) => s.group === 'g1');
    expect(new Set(atL4.map((s) => s.id)).size).toBe(atL4.length);
    expect(atL4.length).toBeGreaterThanOrEqual(3);
    for (const session of atL4) expect(session.stats.duplicates).toBe(0);
    // The origin forgets its sessions once they end.
    expect(await cluster.sessionsOf('O')).toEqual([]);
    // And nobody crashed along the way.
    cluster.expectRunning();
  }, 90_000);
});
