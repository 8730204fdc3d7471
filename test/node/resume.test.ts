// Resumption of an aborted transfer (FIG. 13–16): O sends to one destination D through a
// TcpProxy that breaks the connection again and again. After each break O redials, D
// answers OPENED with the frame it holds, and O goes on from the next one. The claims:
//
//   - the file arrives byte for byte, and D never receives a frame twice;
//   - a resumption never starts behind what D had acknowledged (have >= acked), so no
//     acknowledged frame is sent again;
//   - only frames sent but not held by D are resent:
//       resent <= sum over resumptions of (sentBefore - have);
//   - on the wire (the proxy's bytesUp) that is the file, plus the resent frames, plus a
//     little for link frames;
//   - a destination that cannot be reached for a while (new connections refused) is
//     waited for, not given up.
//
//      O ──route: nexthop=127.0.0.1:<proxy>──▶ proxy ──▶ D (route: g1 → D, deliver here)
//
// Runs once, in the `wasm` project only. The file comes from the printed seed: replay
// with SNAPCOPY_SEED=<seed> npx vitest run test/node/resume.test.ts --project wasm.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK, Cluster, type HopJson, MiB, type SessionJson, framesOf, onlyOnce, sleep, writeSeededFile } from '../helpers/cluster.js';
import type { TcpProxy } from '../helpers/net.js';
import { testSeed } from '../helpers/prng.js';

/** A data frame on the wire: 12 header bytes, an 8-byte sequence number, the chunk. */
const FRAME_BYTES = CHUNK + 20;
const SECRET = 'resume-test-secret-0123456789';

describe.skipIf(onlyOnce)('a transfer resumes across broken connections, from what the destination holds', () => {
  const seed = testSeed('resume');
  const cluster = new Cluster({ prefix: 'snapcopy-resume-', secret: SECRET, nodes: ['O', 'D'] });
  let proxy: TcpProxy;

  beforeAll(async () => {
    await cluster.start();
    proxy = await cluster.proxyTo('D');
    // O's next hop is the proxy's address (an address is a valid next hop); D delivers locally.
    await cluster.routes({ O: [['g1', proxy.address]], D: [['g1', 'D']] });
  }, 60_000);

  afterAll(() => cluster.stop());

  /** Waits (bounded) until `condition` holds or the transfer has ended; returns whether it holds. */
  async function until(condition: () => boolean, done: () => boolean, what: string, ms = 30_000): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (!condition()) {
      if (done()) return false;
      if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
      await sleep(5);
    }
    return true;
  }

  async function sessionAtD(id: (s: SessionJson) => boolean): Promise<SessionJson> {
    const sessions = (await cluster.sessionsOf('D')).filter(id);
    expect(sessions).toHaveLength(1);
    return sessions[0]!;
  }

  /** The claims every resumption must satisfy; returns the bound on frames resent. */
  function checkResumes(hop: HopJson): number {
    let bound = 0;
    for (const resume of hop.stats.resumes) {
      // The resume point is never behind what D acknowledged, nor past what was sent.
      expect(resume.have, JSON.stringify(resume)).toBeGreaterThanOrEqual(resume.acked);
      expect(resume.have, JSON.stringify(resume)).toBeLessThanOrEqual(resume.sentBefore);
      bound += resume.sentBefore - resume.have;
    }
    // Only frames sent but not held by D were sent again.
    expect(hop.stats.resent).toBeLessThanOrEqual(bound);
    return bound;
  }

  it('~48 MiB through a proxy cut four times (one cut while delayed): exact file, nothing acknowledged resent', async () => {
    const size = 48 * MiB + 4_099;
    const file = cluster.file('cut.bin');
    const expected = await writeSeededFile(file, size, seed);
    const total = framesOf(size);
    const upBefore = proxy.bytesUp;
    const connectionsBefore = proxy.connections;

    // Cut after 6 MiB; then 7 MiB (mid-frame) further; then, with every chunk delayed
    // 25 ms (so a megabyte is in flight inside the proxy), 8 MiB further; then 5 MiB
    // further with the delay off again. Each cut is armed once O has reconnected.
    proxy.setDelay(0);
    proxy.cutAfterBytes(upBefore + 6 * MiB);
    const run = cluster.startRcptest(file);
    const plan: { after: number; delay: number }[] = [
      { after: 7 * MiB + 12_345, delay: 0 },
      { after: 8 * MiB + 999, delay: 25 },
      { after: 5 * MiB + 77, delay: 0 },
    ];
    let cuts = 0;
    const reconnected = () => proxy.connections >= connectionsBefore + cuts + 2;
    if (await until(reconnected, run.done, 'the first cut and a reconnection')) cuts++;
    for (const step of plan) {
      if (run.done()) break;
      proxy.setDelay(step.delay);
      proxy.cutAfterBytes(proxy.bytesUp + step.after);
      if (await until(reconnected, run.done, `cut ${cuts + 1} and a reconnection`)) cuts++;
    }
    proxy.setDelay(0);
    proxy.cutAfterBytes(undefined);

    const { result, json } = await run.result;
    const up = proxy.bytesUp - upBefore;
    const [hop, ...otherHops] = json.hops;
    console.log(
      `[resume] ${cuts} cuts, ${proxy.connections - connectionsBefore} connections, rcptest ${json.seconds.toFixed(2)} s, ` +
        `${up} bytes up for ${size}; hop ${JSON.stringify(hop)}`,
    );

    if (cuts !== 4) throw new Error(`only ${cuts} of 4 cuts happened before the transfer ended: ${await run.why()}`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(json.destinations).toEqual({ D: { status: 'ok', acked: total } });
    expect(otherHops).toEqual([]);
    expect(hop!.name).toBe(proxy.address);
    expect(hop!.state).toBe('open');

    // Every connection after the first resumed the session (one per cut at least), each
    // from where D stood; resends bounded by what D lacked.
    expect(hop!.stats.resumes).toHaveLength(proxy.connections - connectionsBefore - 1);
    expect(hop!.stats.resumes.length).toBeGreaterThanOrEqual(cuts);
    checkResumes(hop!);
    expect(hop!.stats.sent).toBe(total + hop!.stats.resent);

    // On the wire: the file once, the resent frames again, and a little for the link.
    const slack = 64 * 1024 + (proxy.connections - connectionsBefore) * 4096;
    expect(up).toBeLessThanOrEqual(size + hop!.stats.resent * FRAME_BYTES + slack);

    expect(expected.byteLength).toBe(size);
    await cluster.expectDelivered(['D'], 'cut.bin', expected);

    // D took every frame exactly once.
    const session = await sessionAtD((s) => s.have === total && s.end === total);
    expect(session.stats).toEqual({ frames: total, duplicates: 0 });
  }, 60_000);

  it('new connections refused for a second: O keeps redialing and the transfer completes', async () => {
    const size = 16 * MiB + 513;
    const file = cluster.file('blocked.bin');
    const expected = await writeSeededFile(file, size, seed + 1);
    const total = framesOf(size);
    const upBefore = proxy.bytesUp;
    const connectionsBefore = proxy.connections;

    // Slow enough (25 ms per chunk, about 40 MB/s) that the block lands mid-transfer.
    proxy.setDelay(25);
    const run = cluster.startRcptest(file);
    const midway = await until(() => proxy.bytesUp - upBefore >= 4 * MiB, run.done, 'the first 4 MiB through the proxy');
    if (!midway) throw new Error(`the transfer ended before the proxy could block it: ${await run.why()}`);
    proxy.setBlocked(true);
    proxy.cut();
    const blockedAt = proxy.connections;
    await sleep(1000);
    const refused = proxy.connections - blockedAt;
    proxy.setBlocked(false);
    proxy.setDelay(0);
    expect(run.done(), 'rcptest gave up while the destination was unreachable').toBe(false);

    const { result, json } = await run.result;
    const [hop, ...otherHops] = json.hops;
    console.log(`[resume] blocked 1 s: ${refused} connections refused, rcptest ${json.seconds.toFixed(2)} s; hop ${JSON.stringify(hop)}`);

    expect(refused, 'O redialed while blocked').toBeGreaterThanOrEqual(1);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(json.destinations).toEqual({ D: { status: 'ok', acked: total } });
    expect(otherHops).toEqual([]);
    expect(hop!.state).toBe('open');
    // The refused dials never opened the session; each connection that got through after
    // the first resumed it (one, unless something else broke a connection too).
    const through = proxy.connections - connectionsBefore - refused;
    expect(through).toBeGreaterThanOrEqual(2);
    expect(hop!.stats.resumes).toHaveLength(through - 1);
    checkResumes(hop!);
    expect(hop!.stats.sent).toBe(total + hop!.stats.resent);

    expect(expected.byteLength).toBe(size);
    await cluster.expectDelivered(['D'], 'blocked.bin', expected);
    const session = await sessionAtD((s) => s.have === total && s.end === total && s.stats.frames === total);
    expect(session.stats.duplicates).toBe(0);
  }, 60_000);
});
