// Scenario tests of the primary's state machine: events in, effects and states out,
// read as scripts. No I/O: time is an event.

import { describe, expect, test } from 'vitest';
import { DEFAULT_OPTIONS } from '../../src/replication/options.js';
import {
  baseOf, initialState, MAX_RETRY_MS, newestOf, phaseOf, type PrimaryEffect, type PrimaryEvent, type PrimaryState, RETRIES,
  RETRY_MS, step,
} from '../../src/replication/primary.js';
import { script as scriptOf } from '../helpers/script.js';

const OPTIONS = { ...DEFAULT_OPTIONS, to: 10, hwm: 1 };

/** A script runner: feeds events, keeps the state, returns each step's effects. */
function script(destinations: Record<string, string> = { n2: 'sfs' }, options = OPTIONS) {
  return scriptOf<PrimaryState, PrimaryEvent, PrimaryEffect>(initialState('pfs', 'rep-pfs', options, destinations, 0), step);
}

const tick = (now: number, modifiedBytes = 0): PrimaryEvent => ({ type: 'tick', now, modifiedBytes });
const cutDone = (now: number, n: number, bytes = 4096): PrimaryEvent => ({ type: 'cut-done', now, n, image: `img${n}`, blocks: bytes / 4096, bytes });
const ok = (...nodes: string[]) => Object.fromEntries(nodes.map((n) => [n, { ok: true }]));
const sent = (now: number, id: number, to: number, results: Record<string, { ok: boolean; code?: string; message?: string }>): PrimaryEvent => ({
  type: 'sent', now, id, to, bytes: 1000, seconds: 0.1, results,
});
const types = (effects: PrimaryEffect[]) => effects.map((e) => e.type);

describe('primary: the first delta set is the new remote copy (FIG. 11)', () => {
  test('the first tick cuts set 0 even with nothing modified, then sends it in full', () => {
    const s = script();
    expect(s.on(tick(0))).toEqual([{ type: 'cut', n: 0 }]);
    expect(phaseOf(s.state, 0)).toBe('cutting');
    expect(s.on(tick(100, 999_999_999))).toEqual([]); // one cut at a time
    const effects = s.on(cutDone(200, 0));
    expect(effects).toEqual([{
      type: 'send', id: 0, from: null, to: 0, destinations: { n2: 'sfs' }, targets: ['n2'], between: [], fromImage: null, toImage: 'img0',
    }]);
    expect(phaseOf(s.state, 200)).toBe('sending');
    expect(s.on(sent(300, 0, 0, ok('n2')))).toEqual([]);
    expect(s.state.destinations.n2!.played).toBe(0);
    expect(baseOf(s.state)).toBe(0);
    expect(phaseOf(s.state, 300)).toBe('idle');
  });
});

describe('primary: cutting by timeout and high-water mark (FIG. 10)', () => {
  function synced() {
    const s = script();
    s.on(tick(0));
    s.on(cutDone(0, 0));
    s.on(sent(0, 0, 0, ok('n2')));
    return s;
  }

  test('nothing is cut before the timeout while under the high-water mark', () => {
    const s = synced();
    expect(s.on(tick(5_000, 100))).toEqual([]);
  });

  test('the timeout cuts when something changed; with nothing changed it re-arms instead', () => {
    const s = synced();
    expect(s.on(tick(10_000, 0))).toEqual([]);
    expect(s.state.lastCutAt).toBe(10_000);
    expect(s.on(tick(19_000, 4096))).toEqual([]);
    expect(s.on(tick(20_000, 4096))).toEqual([{ type: 'cut', n: 1 }]);
  });

  test('the high-water mark cuts at once', () => {
    const s = synced();
    expect(s.on(tick(1_000, 1_000_000))).toEqual([{ type: 'cut', n: 1 }]);
  });

  test('a cut sends delta(base, newest) and the older cut is kept as the base until it is played', () => {
    const s = synced();
    s.on(tick(1_000, 2e6));
    const effects = s.on(cutDone(1_100, 1));
    expect(effects).toEqual([expect.objectContaining({ type: 'send', from: 0, to: 1, fromImage: 'img0', toImage: 'img1', targets: ['n2'] })]);
    expect(s.state.cuts).toEqual([0, 1]);
    // Played: the base moves to 1 and cut 0 is deleted.
    expect(s.on(sent(1_200, 1, 1, ok('n2')))).toEqual([{ type: 'delete-cut', n: 0 }]);
    expect(s.state.cuts).toEqual([1]);
  });
});

describe('primary: pending sets collapse into one differential', () => {
  test('cuts made while a send is in flight are not sent one by one: the next send spans them', () => {
    const s = script();
    s.on(tick(0));
    s.on(cutDone(0, 0));
    s.on(sent(0, 0, 0, ok('n2')));
    s.on(tick(1_000, 2e6));
    s.on(cutDone(1_000, 1)); // send 1 (0 → 1) in flight
    expect(s.on(tick(2_000, 2e6))).toEqual([]); // no cut while sending
    // The destination fails: set 1 stays pending; more writes come; a cut collapses them.
    expect(s.on(sent(3_000, 1, 1, { n2: { ok: false, code: 'ERR_UNREACHABLE', message: 'down' } }))).toEqual([]);
    expect(s.state.destinations.n2!.failures).toBe(1);
    expect(s.on(tick(3_500, 2e6))).toEqual([{ type: 'cut', n: 2 }]);
    const effects = s.on(cutDone(3_600, 2));
    // Cut 1 is no longer needed (delta 0 → 2 covers it); the send waits for the retry time.
    expect(effects).toEqual([{ type: 'delete-cut', n: 1 }]);
    expect(s.state.cuts).toEqual([0, 2]);
    const retry = s.on(tick(4_100, 0));
    expect(retry).toEqual([expect.objectContaining({ type: 'send', from: 0, to: 2, between: ['img1'] })]);
  });
});

describe('primary: several destinations', () => {
  test('a destination without a copy gets a full copy while the other passes it by; then both get deltas from the common base', () => {
    const s = script({ n2: 'a' });
    s.on(tick(0));
    s.on(cutDone(0, 0));
    s.on(sent(0, 0, 0, ok('n2')));
    s.state.destinations.n3 = { sfs: 'b', played: null, failures: 0 }; // added while running
    s.on(tick(1_000, 2e6));
    const full = s.on(cutDone(1_000, 1));
    expect(full).toEqual([expect.objectContaining({ type: 'send', from: null, to: 1, targets: ['n3'], destinations: { n2: 'a', n3: 'b' } })]);
    expect(s.on(sent(1_100, 1, 1, ok('n2', 'n3')))).toEqual([expect.objectContaining({ type: 'send', from: 0, to: 1, targets: ['n2'] })]);
    expect(s.state.destinations.n2!.played).toBe(0); // it passed the full copy by
    expect(s.state.destinations.n3!.played).toBe(1);
    s.on(sent(1_200, 2, 1, ok('n2', 'n3')));
    expect(baseOf(s.state)).toBe(1);
    expect(s.state.cuts).toEqual([1]);
  });

  test('the base is the oldest set played anywhere: a lagging destination keeps old cuts alive', () => {
    const s = script({ n2: 'a', n3: 'b' });
    s.on(tick(0));
    s.on(cutDone(0, 0));
    s.on(sent(0, 0, 0, ok('n2', 'n3')));
    s.on(tick(1_000, 2e6));
    s.on(cutDone(1_000, 1));
    s.on(sent(1_100, 1, 1, { n2: { ok: true }, n3: { ok: false, code: 'ERR_TIMEOUT', message: 'slow' } }));
    expect(baseOf(s.state)).toBe(0);
    expect(s.state.cuts).toEqual([0, 1]);
    // Only the lagging one is a target of the retry; the delta still starts at the base.
    expect(s.on(tick(2_200, 0))).toEqual([expect.objectContaining({ type: 'send', from: 0, to: 1, targets: ['n3'] })]);
  });
});

describe('primary: refresh', () => {
  test('refresh cuts now and resolves once every destination played that set', () => {
    const s = script({ n2: 'a', n3: 'b' });
    s.on(tick(0));
    s.on(cutDone(0, 0));
    s.on(sent(0, 0, 0, ok('n2', 'n3')));
    expect(s.on({ type: 'refresh', now: 500, id: 'r1', modifiedBytes: 4096 })).toEqual([{ type: 'cut', n: 1 }]);
    s.on(cutDone(600, 1));
    expect(s.on(sent(700, 1, 1, ok('n2', 'n3')))).toEqual([{ type: 'delete-cut', n: 0 }, { type: 'resolve', id: 'r1' }]);
  });

  test('refresh with nothing modified resolves at once when everyone has the newest set', () => {
    const s = script();
    s.on(tick(0));
    s.on(cutDone(0, 0));
    s.on(sent(0, 0, 0, ok('n2')));
    expect(s.on({ type: 'refresh', now: 500, id: 'r1', modifiedBytes: 0 })).toEqual([{ type: 'resolve', id: 'r1' }]);
  });

  test('refresh is rejected once a destination failed RETRIES times in a row, with its code', () => {
    const s = script();
    s.on(tick(0));
    s.on(cutDone(0, 0));
    s.on({ type: 'refresh', now: 1, id: 'r1', modifiedBytes: 0 });
    let now = 10;
    let effects: PrimaryEffect[] = [];
    for (let i = 0; i < RETRIES; i++) {
      effects = s.on(sent(now, s.state.sending!.id, 0, { n2: { ok: false, code: 'ERR_NO_SPACE', message: 'disk full' } }));
      now += MAX_RETRY_MS;
      if (i < RETRIES - 1) expect(types(s.on(tick(now, 0)))).toEqual(['send']);
    }
    expect(effects).toEqual([{ type: 'reject', id: 'r1', code: 'ERR_NO_SPACE', message: 'n2: disk full' }]);
    expect(phaseOf(s.state, now)).toBe('error');
  });
});

describe('primary: retries back off', () => {
  test('after each failure the next try waits twice as long, up to MAX_RETRY_MS; a success resets it', () => {
    const s = script();
    s.on(tick(0));
    s.on(cutDone(0, 0));
    let now = 0;
    const waits: number[] = [];
    for (let failure = 1; failure <= 7; failure++) {
      s.on(sent(now, s.state.sending!.id, 0, { n2: { ok: false, code: 'ERR_UNREACHABLE', message: 'down' } }));
      const wait = s.state.retryAt - now;
      waits.push(wait);
      expect(s.on(tick(now + wait - 1, 0))).toEqual([]); // not before its time
      now += wait;
      expect(types(s.on(tick(now, 0)))).toEqual(['send']);
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 30, 30].map((x) => Math.min(MAX_RETRY_MS, x * RETRY_MS)));
    s.on(sent(now, s.state.sending!.id, 0, ok('n2')));
    expect(s.state.retryAt).toBe(0);
    expect(s.state.destinations.n2!.failures).toBe(0);
  });
});

describe('primary: the watchdog', () => {
  test('a send with no progress for the watchdog time is aborted, reported as ERR_TIMEOUT, and sent again', () => {
    const s = script({ n2: 'a' }, { ...OPTIONS, watchdog: 5 });
    s.on(tick(0));
    s.on(cutDone(0, 0));
    s.on({ type: 'progress', now: 1_000, id: 0, bytes: 100 });
    expect(phaseOf(s.state, 5_500)).toBe('sending');
    expect(phaseOf(s.state, 6_000)).toBe('stalled');
    expect(s.on(tick(6_000, 0))).toEqual([{ type: 'abort-send', id: 0 }]);
    expect(s.state.destinations.n2!.error).toMatchObject({ code: 'ERR_TIMEOUT' });
    // The aborted send's late outcome changes nothing; the retry is a new send.
    expect(s.on(sent(6_100, 0, 0, ok('n2')))).toEqual([]);
    expect(s.state.destinations.n2!.played).toBeNull();
    expect(s.on(tick(7_100, 0))).toEqual([expect.objectContaining({ type: 'send', id: 1, from: null, to: 0 })]);
  });
});

describe('primary: cuts destinations stand on', () => {
  test('a cut only the destination ahead has played is kept: it becomes the base once the other passes it', () => {
    const s = script({ d1: 'r1', d2: 'r2' });
    s.on(tick(0));
    s.on(cutDone(0, 0));
    s.on(sent(1, 0, 0, ok('d1', 'd2'))); // both at 0
    s.on({ type: 'refresh', now: 2, id: 'a', modifiedBytes: 4096 });
    s.on(cutDone(3, 1));
    s.on(sent(4, 1, 1, { d1: { ok: false, code: 'ERR_UNREACHABLE' }, d2: { ok: true } })); // d2 at 1, d1 at 0
    s.on(tick(20, 4096 * 300)); // over the high-water mark while d1 waits for its retry
    s.on(cutDone(21, 2));
    expect(s.state.cuts).toEqual([0, 1, 2]); // 1 stays: d2 stands on it
    s.on(tick(5_000, 0)); // the retry: delta 0 → 2 to both
    s.on(sent(5_003, s.state.sending!.id, 2, { d1: { ok: true }, d2: { ok: false, code: 'ERR_UNREACHABLE' } }));
    expect(baseOf(s.state)).toBe(1); // d1 at 2, d2 at 1
    expect(s.state.cuts).toEqual([1, 2]);
    const retry = s.on(tick(60_000, 0));
    expect(retry).toEqual([expect.objectContaining({ type: 'send', from: 1, to: 2, between: [] })]);
  });
});

describe('primary: stopping a destination', () => {
  test('removing the lagging destination lets the base move on and frees its cuts', () => {
    const s = script({ n2: 'a', n3: 'b' });
    s.on(tick(0));
    s.on(cutDone(0, 0));
    s.on(sent(0, 0, 0, { n2: { ok: true }, n3: { ok: false } }));
    expect(newestOf(s.state)).toBe(0);
    s.on(tick(1_500, 0)); // retry to n3 ...
    s.on(sent(1_600, s.state.sending!.id, 0, { n3: { ok: false } }));
    s.on(tick(1_700, 2e6));
    s.on(cutDone(1_800, 1));
    expect(s.state.cuts).toEqual([0, 1]);
    const effects = s.on({ type: 'remove-destination', node: 'n3' });
    expect(Object.keys(s.state.destinations)).toEqual(['n2']);
    expect(effects).toEqual([]); // n2 still holds 0: it is the base
    expect(baseOf(s.state)).toBe(0);
  });
});

describe('primary: fenced by a destination that was failed over', () => {
  test('a set refused because its replica was failed over fences the primary: no more cuts or sends, a refresh says why', () => {
    const s = script({ n2: 'a', n3: 'b' });
    s.on(tick(0));
    s.on(cutDone(0, 0));
    s.on(sent(0, 0, 0, ok('n2', 'n3')));
    s.on({ type: 'refresh', now: 500, id: 'r1', modifiedBytes: 4096 });
    s.on(cutDone(600, 1));
    const message = 'a on n2 was failed over (it is read-write now): it takes no more sets from n1:pfs';
    const effects = s.on(sent(700, 1, 1, { n2: { ok: false, code: 'ERR_FAILED_OVER', message }, n3: { ok: true } }));
    expect(effects).toEqual([{ type: 'fence', node: 'n2', message }]);
    expect(s.state.waiters).toEqual([]);
    expect(s.state.fenced).toEqual({ node: 'n2', at: 700, message });
    // The set n3 played is recorded; the cuts stay for the resync.
    expect(s.state.destinations.n3!.played).toBe(1);
    expect(s.state.cuts).toEqual([0, 1]);
    expect(s.on(tick(100_000, 1 << 30))).toEqual([]);
    expect(s.on({ type: 'refresh', now: 100_001, id: 'r2', modifiedBytes: 4096 })).toEqual([{ type: 'reject', id: 'r2', code: 'ERR_FAILED_OVER', message }]);
  });

  test('other refusals are retried as before, not fenced', () => {
    const s = script();
    s.on(tick(0));
    s.on(cutDone(0, 0));
    expect(types(s.on(sent(10, 0, 0, { n2: { ok: false, code: 'ERR_EXISTS', message: 'not registered' } })))).not.toContain('fence');
    expect(s.state.fenced).toBeUndefined();
  });
});
