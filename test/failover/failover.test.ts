// Scenario tests of failover (FIG. 31–33) as a state machine: events in, effects and
// states out; and the runner against a scripted host, with a crash between any two
// effects followed by the same command again.

import { describe, expect, test } from 'vitest';
import {
  type FailoverEffect, type FailoverEvent, type FailoverPhase, type FailoverState, initialFailover, stepFailover,
} from '../../src/failover/failover.js';
import { type FailoverHost, runFailover } from '../../src/failover/runner.js';
import { script as scriptOf } from '../helpers/script.js';

function script(options: { sync: boolean; now: boolean }) {
  return scriptOf<FailoverState, FailoverEvent, FailoverEffect>(initialFailover('sfs', 'pfs', 'n1', options), stepFailover);
}

const done = (phase: FailoverPhase, extra: Partial<Extract<FailoverEvent, { type: 'done' }>> = {}): FailoverEvent => ({ type: 'done', phase, ...extra });
const failed = (phase: FailoverPhase, code = 'ERR_UNREACHABLE'): FailoverEvent => ({ type: 'failed', phase, code, message: 'no answer' });

describe('failover without -sync (FIG. 32)', () => {
  test('primary reachable: read-only primary, held sets played, restart point, read-write secondary', () => {
    const s = script({ sync: false, now: false });
    expect(s.on({ type: 'start' })).toEqual([{ type: 'demote-primary', required: false }]);
    expect(s.on(done('demote'))).toEqual([{ type: 'play-held', drop: false }]);
    expect(s.on(done('playback', { played: 7 }))).toEqual([{ type: 'restart-point' }]);
    expect(s.on(done('restart-point', { checkpoint: 'sfs@restart-7' }))).toEqual([{ type: 'promote' }]);
    expect(s.on(done('promote'))).toEqual([{ type: 'report' }]);
    expect(s.state).toMatchObject({ phase: 'done', primaryDemoted: true, lastPlayed: 7, restartPoint: 'sfs@restart-7' });
  });

  test('primary down: the failover goes on without it, and says the primary was not made read-only', () => {
    const s = script({ sync: false, now: false });
    s.on({ type: 'start' });
    expect(s.on(failed('demote'))).toEqual([{ type: 'play-held', drop: false }]);
    s.on(done('playback', { played: 3 }));
    s.on(done('restart-point', { checkpoint: 'sfs@restart-3' }));
    s.on(done('promote'));
    expect(s.state).toMatchObject({ phase: 'done', primaryDemoted: false });
  });

  test('-now drops the sets the secondary holds instead of playing them', () => {
    const s = script({ sync: false, now: true });
    s.on({ type: 'start' });
    expect(s.on(done('demote'))).toEqual([{ type: 'play-held', drop: true }]);
  });

  test('a stale outcome (of another phase) changes nothing', () => {
    const s = script({ sync: false, now: false });
    s.on({ type: 'start' });
    expect(s.on(done('promote'))).toEqual([]);
    expect(s.state.phase).toBe('demote');
  });
});

describe('re-issued with other options', () => {
  test('a -sync failover refused at its catch-up, re-issued without -sync, starts without sync', () => {
    const s = script({ sync: true, now: false });
    s.on({ type: 'start' });
    s.on(failed('catch-up'));
    const reissued = stepFailover({ ...s.state, sync: false }, { type: 'start' });
    expect(reissued.effects).toEqual([{ type: 'demote-primary', required: false }]);
    expect(reissued.state.phase).toBe('demote');
  });
});

describe('failover with -sync (FIG. 33)', () => {
  test('catch-up, primary read-only, last set, primary halted, then as without sync', () => {
    const s = script({ sync: true, now: false });
    expect(s.on({ type: 'start' })).toEqual([{ type: 'refresh-primary' }]);
    expect(s.on(done('catch-up'))).toEqual([{ type: 'demote-primary', required: true }]);
    expect(s.on(done('demote'))).toEqual([{ type: 'refresh-primary' }]);
    expect(s.on(done('last-set'))).toEqual([{ type: 'halt-primary' }]);
    expect(s.on(done('halt'))).toEqual([{ type: 'play-held', drop: false }]);
    s.on(done('playback', { played: 9 }));
    s.on(done('restart-point', { checkpoint: 'sfs@restart-9' }));
    expect(s.on(done('promote'))).toEqual([{ type: 'report' }]);
    expect(s.state.phase).toBe('done');
  });

  test('refused when the primary is down (FIG. 31 step 553): failed with its code, nothing promoted', () => {
    const s = script({ sync: true, now: false });
    s.on({ type: 'start' });
    expect(s.on(failed('catch-up'))).toEqual([{ type: 'report' }]);
    expect(s.state).toMatchObject({ phase: 'failed', error: { code: 'ERR_UNREACHABLE', phase: 'catch-up' } });
  });

  test('a primary that cannot be made read-only fails the failover; re-issued, it resumes at that phase', () => {
    const s = script({ sync: true, now: false });
    s.on({ type: 'start' });
    s.on(done('catch-up'));
    s.on(failed('demote', 'ERR_TIMEOUT'));
    expect(s.state).toMatchObject({ phase: 'failed', error: { phase: 'demote' } });
    expect(s.on({ type: 'start' })).toEqual([{ type: 'demote-primary', required: true }]);
    expect(s.state.error).toBeUndefined();
  });
});

/** A host that records what it did, and can "crash" (throw a non-Snapcopy error after saving) at a chosen save. */
function scriptedHost(options: { primaryUp: boolean; crashAtSave?: number }) {
  const log: string[] = [];
  let saved: FailoverState | undefined;
  let saves = 0;
  const primary = async (what: string) => {
    if (!options.primaryUp) throw Object.assign(new Error('connection refused'), { code: 'ERR_UNREACHABLE' });
    log.push(what);
  };
  const host: FailoverHost = {
    save: async (state) => {
      saved = state;
      if (options.crashAtSave !== undefined && ++saves === options.crashAtSave) throw new Error('crash');
    },
    refreshPrimary: () => primary('refresh'),
    demotePrimary: () => primary('demote'),
    haltPrimary: () => primary('halt'),
    playHeld: async (_s, drop) => {
      log.push(drop ? 'drop' : 'play');
      return 4;
    },
    restartPoint: async (state) => {
      log.push('restart-point');
      return `${state.sfs}@restart-${state.lastPlayed}`;
    },
    promote: async () => void log.push('promote'),
  };
  return { host, log, saved: () => saved };
}

describe('failover runner: a crash between any two effects, then the same command again', () => {
  for (const sync of [false, true]) {
    test(`${sync ? 'with' : 'without'} -sync: every crash point ends like an uninterrupted run`, async () => {
      const clean = scriptedHost({ primaryUp: true });
      const finished = await runFailover(clean.host, initialFailover('sfs', 'pfs', 'n1', { sync, now: false }));
      const saves = clean.log.length + 2;
      for (let crashAt = 1; crashAt <= saves; crashAt++) {
        const first = scriptedHost({ primaryUp: true, crashAtSave: crashAt });
        await runFailover(first.host, initialFailover('sfs', 'pfs', 'n1', { sync, now: false })).catch(() => undefined);
        // Re-issued from what was saved before the crash (idempotent effects may run twice).
        const again = scriptedHost({ primaryUp: true });
        const resumed = await runFailover(again.host, first.saved()!);
        expect(resumed, `crash at save ${crashAt}`).toEqual(finished);
      }
    });
  }

  test('with -sync and the primary down, the runner throws the primary\'s code and promotes nothing', async () => {
    const down = scriptedHost({ primaryUp: false });
    await expect(runFailover(down.host, initialFailover('sfs', 'pfs', 'n1', { sync: true, now: false })))
      .rejects.toMatchObject({ code: 'ERR_UNREACHABLE' });
    expect(down.log).toEqual([]);
    expect(down.saved()).toMatchObject({ phase: 'failed' });
  });
});
