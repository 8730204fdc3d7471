// Resync and failback as phase machines: the order of their phases, a failure resumed
// at the phase that failed, and a run cut short after any save then run again from
// what was saved ending like an uninterrupted run.

import { describe, expect, test } from 'vitest';
import { FAILBACK_PHASES, initialFailback, mergeFailback, type FailbackPhase, type FailbackState } from '../../src/failover/failback.js';
import { runPhases, stepPhases } from '../../src/failover/phases.js';
import { initialResync, mergeResync, RESYNC_PHASES, type ResyncPhase, type ResyncResult, type ResyncState } from '../../src/failover/resync.js';

describe('resync phases (FIG. 28-29)', () => {
  test('keep the diverged writes, raw, undo, two differentials, then the direction turns', async () => {
    const ran: ResyncPhase[] = [];
    const state = await runPhases(RESYNC_PHASES, initialResync('sfs', 'pfs', 'n1', { autofullcopy: false }), {
      save: async () => undefined,
      perform: async (_s, phase): Promise<ResyncResult> => {
        ran.push(phase);
        return phase === 'keep-diverged' ? { diverged: { blocks: 12, checkpoint: 'pfs@diverged-x' } } : {};
      },
      merge: mergeResync,
    });
    expect(ran).toEqual(['keep-diverged', 'raw', 'undo', 'copy-1', 'copy-2', 'reverse']);
    expect(state).toMatchObject({ phase: 'done', diverged: { blocks: 12, checkpoint: 'pfs@diverged-x' }, fullCopy: false });
  });

  test('an undo that cannot be done fails there with its code; run again, it resumes at the undo', async () => {
    let allowed = false;
    const options = {
      save: async () => undefined,
      perform: async (_s: ResyncState, phase: ResyncPhase): Promise<ResyncResult> => {
        if (phase === 'undo' && !allowed) throw Object.assign(new Error('no cut of the restart point'), { code: 'ERR_WRONG_BASE' });
        return phase === 'undo' ? { fullCopy: true } : {};
      },
      merge: mergeResync,
    };
    const failed = await runPhases(RESYNC_PHASES, initialResync('sfs', 'pfs', 'n1', { autofullcopy: false }), options);
    expect(failed).toMatchObject({ phase: 'failed', error: { code: 'ERR_WRONG_BASE', phase: 'undo' } });
    allowed = true;
    const done = await runPhases(RESYNC_PHASES, { ...failed, autofullcopy: true }, options);
    expect(done).toMatchObject({ phase: 'done', fullCopy: true });
  });

  test('a stale outcome changes nothing', () => {
    const state = initialResync('sfs', 'pfs', 'n1', { autofullcopy: false });
    expect(stepPhases(RESYNC_PHASES, state, { type: 'done', phase: 'reverse', result: {} }, mergeResync)).toBe(state);
  });
});

describe('failback phases (FIG. 30)', () => {
  test('catch-up, source read-only, last set, halt, turn, primary read-write; the set both hold is kept', async () => {
    const ran: FailbackPhase[] = [];
    const state = await runPhases(FAILBACK_PHASES, initialFailback('sfs', 'pfs', 'n1'), {
      save: async () => undefined,
      perform: async (_s, phase) => {
        ran.push(phase);
        return phase === 'last-set' ? { set: 7 } : {};
      },
      merge: mergeFailback,
    });
    expect(ran).toEqual(['catch-up', 'source-ro', 'last-set', 'halt', 'turn', 'primary-rw']);
    expect(state).toMatchObject({ phase: 'done', set: 7 });
  });

  test('cut short after any save, run again from what was saved: the same end, every phase run at least once', async () => {
    const clean = await runPhases(FAILBACK_PHASES, initialFailback('sfs', 'pfs', 'n1'), {
      save: async () => undefined, perform: async (_s, phase) => (phase === 'last-set' ? { set: 3 } : {}), merge: mergeFailback,
    });
    for (let crashAt = 1; crashAt <= FAILBACK_PHASES.length + 1; crashAt++) {
      let saves = 0;
      let saved: FailbackState | undefined;
      const ran = new Set<FailbackPhase>();
      const perform = async (_s: FailbackState, phase: FailbackPhase) => {
        ran.add(phase);
        return phase === 'last-set' ? { set: 3 } : {};
      };
      await runPhases(FAILBACK_PHASES, initialFailback('sfs', 'pfs', 'n1'), {
        save: async (s) => {
          saved = s;
          if (++saves === crashAt) throw new Error('crash');
        },
        perform, merge: mergeFailback,
      }).catch(() => undefined);
      const resumed = await runPhases(FAILBACK_PHASES, saved!, { save: async () => undefined, perform, merge: mergeFailback });
      expect(resumed, `crash at save ${crashAt}`).toEqual(clean);
      expect([...ran].sort()).toEqual([...FAILBACK_PHASES].sort());
    }
  });
});
