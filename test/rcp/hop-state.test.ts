// An outbound hop's reachability (src/rcp/hop-state.ts) as scripts: events in (dials,
// losses, time), effects and states out. Covers the decisions the network tests can only
// reach by killing processes: backoff, covering for a hop that stays down, giving up on a
// hop never reached, supersession and permanent errors, and nothing after the end.

import { describe, expect, test } from 'vitest';
import { backoffMs, type HopEffect, type HopEvent, initialReach, MAX_BACKOFF_MS, stepHop } from '../../src/rcp/hop-state.js';
import { script as scriptOf } from '../helpers/script.js';

const script = () => scriptOf(initialReach(), stepHop);

const lost = (now: number, code = 'ERR_CLOSED'): HopEvent => ({ type: 'lost', now, code, message: `lost (${code})` });
const tick = (now: number, knowsNextHops = true): HopEvent => ({ type: 'tick', now, coverAfterMs: 300, knowsNextHops });

describe('a hop that opens, breaks and comes back', () => {
  test('dial, open, send; a break redials with backoff; reopening resets it', () => {
    const h = script();
    expect(h.on({ type: 'dial' })).toEqual([{ type: 'dial' }]);
    expect(h.on({ type: 'opened' })).toEqual([{ type: 'send' }]);
    expect(h.state).toMatchObject({ phase: 'open', everOpened: true, attempts: 0 });
    expect(h.on(lost(1000))).toEqual([{ type: 'redial', afterMs: backoffMs(0) }]);
    expect(h.state).toMatchObject({ phase: 'down', downSince: 1000 });
    // Each failed dial waits longer, up to the cap; downSince stays the first failure.
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      h.on({ type: 'dial' });
      waits.push((h.on(lost(1000 + i)) as { afterMs: number }[])[0]!.afterMs);
    }
    expect(waits).toEqual([...waits].sort((a, b) => a - b));
    expect(Math.max(...waits)).toBe(MAX_BACKOFF_MS);
    expect(h.state.downSince).toBe(1000);
    h.on({ type: 'dial' });
    h.on({ type: 'opened' });
    expect(h.state).toMatchObject({ phase: 'open', attempts: 0, downSince: undefined });
  });

  test('down past the cover delay: it covers once (serving its next hops) and keeps redialing', () => {
    const h = script();
    h.on({ type: 'dial' });
    h.on({ type: 'opened' });
    h.on(lost(5000));
    expect(h.on(tick(5299))).toEqual([]); // not yet
    expect(h.on(tick(5300))).toEqual([{ type: 'cover' }]);
    expect(h.on(tick(9000))).toEqual([]); // once
    expect(h.state).toMatchObject({ phase: 'down', covered: true });
    expect(h.on(lost(9001))).toEqual([{ type: 'redial', afterMs: backoffMs(h.state.attempts) }]);
  });

  test('a hop whose next hops are unknown is not covered, but still redialed', () => {
    const h = script();
    h.on({ type: 'dial' });
    h.on({ type: 'opened' });
    h.on(lost(0));
    expect(h.on(tick(10_000, false))).toEqual([]);
    expect(h.state).toMatchObject({ phase: 'down', covered: false });
  });
});

describe('giving up', () => {
  test('never reached within the cover delay: covered, then given up as unreachable, with the last error', () => {
    const h = script();
    h.on({ type: 'dial' });
    h.on(lost(100, 'ERR_IO'));
    expect(h.on(tick(399))).toEqual([]);
    expect(h.on(tick(400))).toEqual([{ type: 'cover' }, { type: 'fail' }]);
    expect(h.state).toMatchObject({ phase: 'failed', error: { code: 'ERR_UNREACHABLE', message: 'no connection within 300 ms (lost (ERR_IO))' } });
  });

  test('a permanent error fails at once; a superseded hop is dropped; neither redials', () => {
    for (const code of ['ERR_AUTH', 'ERR_VERSION', 'ERR_UNKNOWN_GROUP', 'ERR_UNKNOWN_SESSION']) {
      const h = script();
      h.on({ type: 'dial' });
      expect(h.on(lost(0, code)), code).toEqual([{ type: 'fail' }]);
      expect(h.state.phase).toBe('failed');
    }
    const h = script();
    h.on({ type: 'dial' });
    h.on({ type: 'opened' });
    expect(h.on(lost(0, 'ERR_SUPERSEDED'))).toEqual([{ type: 'drop' }]);
    expect(h.state.phase).toBe('superseded');
  });

  test('after the end (failed, superseded, closed) every event is ignored', () => {
    const h = script();
    h.on({ type: 'dial' });
    expect(h.on({ type: 'close' })).toEqual([{ type: 'close' }]);
    for (const event of [{ type: 'dial' }, { type: 'opened' }, lost(1), tick(1e9), { type: 'close' }] as HopEvent[]) {
      expect(h.on(event)).toEqual([]);
    }
    expect(h.state.phase).toBe('closed');
    const f = script();
    f.on({ type: 'dial' });
    f.on({ type: 'opened' });
    expect(f.on({ type: 'fatal', code: 'ERR_UNKNOWN_SESSION', message: 'frame 9 is no longer held' })).toEqual([{ type: 'fail' }]);
    expect(f.on(lost(5))).toEqual([]);
  });
});
