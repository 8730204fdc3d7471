// Acks: who below a node has which frames. Each source (a next hop, or the local
// application) reports destination → highest frame acknowledged; a destination stands
// at the best any source reports. A source's new report replaces the names it listed
// before, a value it keeps listing never goes down, and failed destinations hold
// nothing back. Time is an argument, so stall detection is tested without clocks.
//
// The random part takes its seed from SNAPCOPY_SEED (or a fresh one, printed): replay a
// failure with SNAPCOPY_SEED=<seed> npx vitest run test/rcp/acks.test.ts.

import { describe, expect, test } from 'vitest';
import { type AckReport, Acks } from '../../src/rcp/acks.js';
import { Prng, testSeed } from '../helpers/prng.js';

/** A report of acknowledgements only. */
function acks(values: Record<string, number>): AckReport {
  return { acks: values, failed: {} };
}

function active(a: Acks): Record<string, number> {
  return Object.fromEntries(a.active());
}

/** Entries of a map or record as an object with its keys in order. */
function sorted<V>(entries: Map<string, V> | Record<string, V>): Record<string, V> {
  const list = entries instanceof Map ? [...entries] : Object.entries(entries);
  return Object.fromEntries(list.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}

describe('Acks: standings', () => {
  test('nothing reported: no destinations, floor Infinity, an empty summary', () => {
    const a = new Acks();
    expect(active(a)).toEqual({});
    expect(a.floor()).toBe(Infinity);
    expect(a.summary()).toEqual({ acks: {}, failed: {} });
    expect(a.stalled(10, 0, 1000)).toEqual([]);
    expect(a.ackedOf('x')).toBe(0);
    expect(a.namesOf('hop')).toEqual([]);
  });

  test('one source: the floor is the lowest standing; a value it keeps listing never goes down', () => {
    const a = new Acks();
    expect(a.report('hop', acks({ x: 3, y: 5 }), 0)).toBe(true);
    expect(active(a)).toEqual({ x: 3, y: 5 });
    expect(a.floor()).toBe(3);
    // x reported lower (an old report arriving late): x stays at 3; y moves.
    expect(a.report('hop', acks({ x: 2, y: 6 }), 1)).toBe(true);
    expect(active(a)).toEqual({ x: 3, y: 6 });
    // The same again: nothing moved.
    expect(a.report('hop', acks({ x: 3, y: 6 }), 2)).toBe(false);
    expect(a.report('hop', acks({ x: 1, y: 1 }), 3)).toBe(false);
    expect(active(a)).toEqual({ x: 3, y: 6 });
    // A destination at 0 (nothing yet) holds the floor at 0.
    a.report('hop', acks({ x: 3, y: 6, z: 0 }), 4);
    expect(a.floor()).toBe(0);
  });

  test('several sources: a destination stands at the best any of them reports', () => {
    const a = new Acks();
    a.report('left', acks({ x: 3, y: 10 }), 0);
    a.report('right', acks({ x: 7 }), 0);
    expect(active(a)).toEqual({ x: 7, y: 10 });
    expect(a.ackedOf('x')).toBe(7);
    expect(a.floor()).toBe(7);
    expect(a.report('left', acks({ x: 9, y: 10 }), 1)).toBe(true);
    expect(active(a)).toEqual({ x: 9, y: 10 });
    // right moving up to 8 is below left's 9: x does not move.
    expect(a.report('right', acks({ x: 8 }), 2)).toBe(false);
    expect(a.ackedOf('x')).toBe(9);
    expect(a.floor()).toBe(9);
  });

  test('replacing: a placeholder for a hop gives way to the destinations behind it', () => {
    const a = new Acks();
    a.report('local', acks({ app: 12 }), 0);
    a.report('hop-b', acks({ 'hop-b': 0 }), 0);
    expect(a.floor()).toBe(0);
    expect(a.namesOf('hop-b')).toEqual(['hop-b']);
    expect(a.report('hop-b', acks({ d1: 4, d2: 6 }), 1)).toBe(true);
    expect(a.namesOf('hop-b').sort()).toEqual(['d1', 'd2']);
    expect(active(a)).toEqual({ app: 12, d1: 4, d2: 6 });
    expect(a.floor()).toBe(4);
    expect(a.summary().acks).toEqual({ app: 12, d1: 4, d2: 6 });
  });

  test('a name a source leaves out of its next report is dropped from that source', () => {
    const a = new Acks();
    a.report('hop', acks({ d1: 4, d2: 6 }), 0);
    a.report('other', acks({ d2: 2 }), 0);
    // hop no longer lists d1, nor does anyone else: d1 is gone, not failed.
    a.report('hop', acks({ d2: 6 }), 1);
    expect(active(a)).toEqual({ d2: 6 });
    expect(a.summary()).toEqual({ acks: { d2: 6 }, failed: {} });
    expect(a.ackedOf('d1')).toBe(0);
    // hop leaves d2 out too: d2 stands at what the other source says.
    a.report('hop', acks({}), 2);
    expect(active(a)).toEqual({ d2: 2 });
    expect(a.namesOf('hop')).toEqual([]);
    // Listed again later, d2 starts from the new value: the max is only kept with the
    // report before, and that one no longer had it.
    a.report('hop', acks({ d2: 3 }), 3);
    expect(active(a)).toEqual({ d2: 3 });
    a.report('hop', acks({ d2: 1 }), 4);
    expect(active(a)).toEqual({ d2: 3 });
  });

  test('report() answers true when a report only drops names, as floor() may rise', () => {
    const a = new Acks();
    expect(a.report('hop', acks({ slow: 1, fast: 5 }), 0)).toBe(true);
    expect(a.floor()).toBe(1);
    expect(a.report('hop', acks({ fast: 5 }), 1)).toBe(true);
    expect(a.floor()).toBe(5);
    expect(a.report('hop', acks({ fast: 5 }), 2)).toBe(false);
  });

  test('a name no source reports any more starts its stall clock afresh when reported again', () => {
    const a = new Acks();
    a.report('fwd', acks({ x: 10 }), 0);
    a.report('fwd', acks({}), 1);
    a.report('direct', acks({ x: 3 }), 2);
    a.report('direct', acks({ x: 7 }), 500);
    expect(a.stalled(11, 1000, 1000)).toEqual([]);
    expect(a.stalled(11, 1000, 1500)).toEqual(['x']);
  });

  test('forget(source, name) drops one name of one source until that source reports it again', () => {
    const a = new Acks();
    a.report('hop:F', acks({ F: 0, L: 4 }), 0);
    expect(a.floor()).toBe(0);
    a.forget('hop:F', 'F');
    expect(active(a)).toEqual({ L: 4 });
    expect(a.floor()).toBe(4);
    a.forget('hop:nobody', 'X');
    a.report('hop:F', acks({ F: 2, L: 5 }), 1);
    expect(active(a)).toEqual({ F: 2, L: 5 });
  });

  test('drop(source) forgets a source; its destinations stand at what others report', () => {
    const a = new Acks();
    a.report('forwarder', acks({ d1: 8, d2: 8 }), 0);
    a.report('d1-direct', acks({ d1: 5 }), 0);
    a.drop('forwarder');
    expect(a.namesOf('forwarder')).toEqual([]);
    expect(active(a)).toEqual({ d1: 5 });
    expect(a.floor()).toBe(5);
    // Dropping an unknown source is harmless.
    a.drop('nobody');
    expect(active(a)).toEqual({ d1: 5 });
  });
});

describe('Acks: failed destinations', () => {
  test('fail() takes a destination out of active(), floor() and stalled(), but keeps it in summary().failed', () => {
    const a = new Acks();
    a.report('hop', acks({ x: 1, y: 9 }), 0);
    expect(a.floor()).toBe(1);
    a.fail('x', 'disk full');
    expect(active(a)).toEqual({ y: 9 });
    expect(a.floor()).toBe(9);
    expect(a.stalled(20, 0, 100)).toEqual(['y']);
    expect(a.summary()).toEqual({ acks: { y: 9 }, failed: { x: 'disk full' } });
    // The first reason stays.
    a.fail('x', 'another reason');
    expect(a.summary().failed).toEqual({ x: 'disk full' });
    // Failing the last one leaves nothing to wait for.
    a.fail('y', 'gone');
    expect(a.floor()).toBe(Infinity);
    expect(a.stalled(20, 0, 100)).toEqual([]);
  });

  test('a failure is for good: later reports from any source do not bring the destination back', () => {
    const a = new Acks();
    a.fail('x', 'timed out');
    a.report('hop', acks({ x: 50, y: 2 }), 0);
    a.report('other', acks({ x: 60 }), 0);
    expect(active(a)).toEqual({ y: 2 });
    expect(a.floor()).toBe(2);
  });

  test('failures a source reports are kept, and count as a move once', () => {
    const a = new Acks();
    a.report('hop', acks({ x: 3, y: 4 }), 0);
    expect(a.report('hop', { acks: { x: 3, y: 4 }, failed: { y: 'unreachable' } }, 1)).toBe(true);
    expect(active(a)).toEqual({ x: 3 });
    expect(a.report('hop', { acks: { x: 3, y: 4 }, failed: { y: 'unreachable' } }, 2)).toBe(false);
    // A source that stops listing the failure does not undo it.
    expect(a.report('hop', acks({ x: 3, y: 4 }), 3)).toBe(false);
    expect(a.summary()).toEqual({ acks: { x: 3 }, failed: { y: 'unreachable' } });
    // Nor does a fail() with another reason change it.
    a.fail('y', 'other');
    expect(a.summary().failed).toEqual({ y: 'unreachable' });
  });
});

describe('Acks: stalls (time is an argument)', () => {
  test('a destination behind the target stalls once it has not moved for giveUpMs', () => {
    const a = new Acks();
    a.report('hop', acks({ x: 1, y: 1 }), 0);
    expect(a.stalled(5, 100, 99)).toEqual([]);
    expect(a.stalled(5, 100, 100).sort()).toEqual(['x', 'y']);
    // x moves at 50: its clock restarts there.
    a.report('hop', acks({ x: 2, y: 1 }), 50);
    expect(a.stalled(5, 100, 100)).toEqual(['y']);
    expect(a.stalled(5, 100, 150).sort()).toEqual(['x', 'y']);
    // A report that does not move y does not restart its clock.
    a.report('hop', acks({ x: 2, y: 1 }), 140);
    expect(a.stalled(5, 100, 150).sort()).toEqual(['x', 'y']);
  });

  test('a destination that has the target is never stalled', () => {
    const a = new Acks();
    a.report('hop', acks({ done: 5, behind: 4 }), 0);
    expect(a.stalled(5, 10, 1_000_000)).toEqual(['behind']);
    expect(a.stalled(4, 10, 1_000_000)).toEqual([]);
  });

  test('advance(): a destination that had everything starts its stall clock when the new frame appears', () => {
    const a = new Acks();
    a.report('hop', acks({ idle: 4, behind: 2 }), 0);
    // Nothing new for a long while; then frame 5 exists.
    a.advance(5, 10_000);
    // idle was caught up (4 = 5 - 1): its clock starts at 10 000; behind's did not restart.
    expect(a.stalled(5, 100, 10_050)).toEqual(['behind']);
    expect(a.stalled(5, 100, 10_100).sort()).toEqual(['behind', 'idle']);
  });

  test('advance() leaves alone the destinations it would not restart, and moving restarts them', () => {
    const a = new Acks();
    a.report('hop', acks({ x: 3 }), 0);
    a.advance(10, 500); // x is 6 frames behind: no restart
    expect(a.stalled(10, 100, 500)).toEqual(['x']);
    a.report('hop', acks({ x: 9 }), 600);
    expect(a.stalled(10, 100, 650)).toEqual([]);
    a.advance(10, 1000); // now caught up to 9: restart at 1000
    expect(a.stalled(10, 100, 1050)).toEqual([]);
    expect(a.stalled(10, 100, 1100)).toEqual(['x']);
  });

  test('a dropped destination is not stalled', () => {
    const a = new Acks();
    a.report('hop', acks({ x: 1, y: 1 }), 0);
    a.report('hop', acks({ y: 1 }), 0);
    expect(a.stalled(5, 10, 100)).toEqual(['y']);
  });
});

describe('Acks: random reports against a model', () => {
  test('3 sources reporting about 5 destinations: active(), floor(), summary(), namesOf(), ackedOf(), report()', () => {
    const seed = testSeed('acks');
    const rng = new Prng(seed);
    const SOURCES = ['s0', 's1', 's2'];
    const NAMES = ['a', 'b', 'c', 'd', 'e'];
    for (let round = 0; round < 40; round++) {
      const acksUnderTest = new Acks();
      // The model: each source's last list (replaced by each report, values kept at the
      // max of the previous list and the new one), the failures, and the best standing
      // each destination has reached (a report "moves" when it raises one, or fails one).
      const lists = new Map<string, Map<string, number>>();
      const failed = new Map<string, string>();
      const reached = new Map<string, number>();
      const best = (name: string) => Math.max(0, ...[...lists.values()].map((l) => l.get(name) ?? 0));
      const forgetIfUnreported = (name: string) => {
        if (![...lists.values()].some((l) => l.has(name))) reached.delete(name);
      };
      for (let op = 0; op < 200; op++) {
        const label = `seed ${seed} round ${round} op ${op}`;
        const source = rng.pick(SOURCES);
        const what = rng.float();
        if (what < 0.85) {
          const report: AckReport = { acks: {}, failed: {} };
          for (const name of NAMES) if (rng.chance(0.6)) report.acks[name] = rng.int(0, 40);
          if (rng.chance(0.03)) report.failed[rng.pick(NAMES)] = `lost at op ${op}`;
          const previous = lists.get(source);
          const list = new Map(Object.entries(report.acks).map(([name, v]) => [name, Math.max(previous?.get(name) ?? 0, v)]));
          lists.set(source, list);
          let moved = false;
          // A name the source stops reporting may have held the floor down: that counts as
          // a move, and a name no source reports any more starts afresh.
          for (const name of previous?.keys() ?? []) {
            if (list.has(name)) continue;
            moved = true;
            forgetIfUnreported(name);
          }
          for (const name of list.keys()) {
            const standing = best(name);
            if (!reached.has(name) || standing > reached.get(name)!) {
              reached.set(name, standing);
              moved = true;
            }
          }
          for (const [name, reason] of Object.entries(report.failed)) {
            if (!failed.has(name)) { failed.set(name, reason); moved = true; }
          }
          const answer = acksUnderTest.report(source, report, op);
          if (answer !== moved) expect(answer, `${label}: report() says moved`).toBe(moved);
        } else if (what < 0.95) {
          acksUnderTest.drop(source);
          const dropped = [...(lists.get(source)?.keys() ?? [])];
          lists.delete(source);
          for (const name of dropped) forgetIfUnreported(name);
        } else {
          const name = rng.pick(NAMES);
          acksUnderTest.fail(name, `failed at op ${op}`);
          if (!failed.has(name)) failed.set(name, `failed at op ${op}`);
        }
        const want = new Map<string, number>();
        for (const list of lists.values()) for (const name of list.keys()) if (!failed.has(name)) want.set(name, best(name));
        const expected = {
          active: sorted(want),
          floor: want.size === 0 ? Infinity : Math.min(...want.values()),
          summary: { acks: sorted(want), failed: sorted(failed) },
          namesOf: SOURCES.map((s) => [...(lists.get(s)?.keys() ?? [])].sort()),
          ackedOf: NAMES.map(best),
        };
        const got = {
          active: sorted(acksUnderTest.active()),
          floor: acksUnderTest.floor(),
          summary: (({ acks: x, failed: f }) => ({ acks: sorted(x), failed: sorted(f) }))(acksUnderTest.summary()),
          namesOf: SOURCES.map((s) => acksUnderTest.namesOf(s).sort()),
          ackedOf: NAMES.map((name) => acksUnderTest.ackedOf(name)),
        };
        // One deep comparison per operation, made by vitest only when the cheap one differs.
        if (JSON.stringify(got) !== JSON.stringify(expected) || got.floor !== expected.floor) expect(got, label).toEqual(expected);
      }
    }
  });
});
