// Failover (FIG. 31–33) as a pure state machine: step(state, event) → { state, effects }.
// The runner (runner.ts) persists each state before performing its effects, and every
// effect is idempotent, so a failover cut short at any point (a kill -9, an error) is
// finished by issuing the same command again (the seed: "it should be possible to
// re-issue the command").
//
// Without -sync (FIG. 32): the primary is made read-only if it can be reached; the
// secondary plays back the delta sets it holds (none with -now); a restart-point
// checkpoint of the secondary, stamped with the last set played, is taken; the
// secondary becomes read-write.
// With -sync (FIG. 33): the primary must answer; the secondary is brought within one
// set (a refresh), the primary goes read-only, the last set is cut and played (a
// second refresh), the primary stops sending; then as above. No write the primary
// acknowledged before the failover is missing on the secondary.

export type FailoverPhase =
  | 'catch-up' // -sync: a refresh brings the secondary within one set
  | 'demote' // the primary goes read-only (best effort without -sync)
  | 'last-set' // -sync: the last set, cut after the primary went read-only, is played
  | 'halt' // -sync: the primary stops sending (its cuts stay, for a later resync)
  | 'playback' // the secondary plays what it holds (or drops it with -now)
  | 'restart-point' // a checkpoint of the secondary stamped with the last set played
  | 'promote' // the secondary becomes read-write
  | 'done'
  | 'failed';

export interface FailoverState {
  sfs: string;
  pfs: string;
  primary: string;
  sync: boolean;
  now: boolean;
  phase: FailoverPhase;
  /** Whether the primary could be made read-only. */
  primaryDemoted: boolean;
  /** The last set played on the secondary, once known. */
  lastPlayed: number | null;
  restartPoint: string | null;
  /** Why the last attempt stopped, and in which phase (a re-issue resumes there). */
  error?: { code: string; message: string; phase: FailoverPhase };
}

export type FailoverEvent =
  | { type: 'start' }
  | { type: 'done'; phase: FailoverPhase; played?: number | null; checkpoint?: string }
  | { type: 'failed'; phase: FailoverPhase; code: string; message: string };

export type FailoverEffect =
  | { type: 'refresh-primary' }
  | { type: 'demote-primary'; required: boolean }
  | { type: 'halt-primary' }
  | { type: 'play-held'; drop: boolean }
  | { type: 'restart-point' }
  | { type: 'promote' }
  | { type: 'report' };

export interface FailoverResult {
  state: FailoverState;
  effects: FailoverEffect[];
}

export function initialFailover(sfs: string, pfs: string, primary: string, options: { sync: boolean; now: boolean }): FailoverState {
  return {
    sfs, pfs, primary, sync: options.sync, now: options.now,
    phase: options.sync ? 'catch-up' : 'demote', primaryDemoted: false, lastPlayed: null, restartPoint: null,
  };
}

/** The effect that performs a phase. */
function effectOf(state: FailoverState): FailoverEffect[] {
  switch (state.phase) {
    case 'catch-up': return [{ type: 'refresh-primary' }];
    case 'demote': return [{ type: 'demote-primary', required: state.sync }];
    case 'last-set': return [{ type: 'refresh-primary' }];
    case 'halt': return [{ type: 'halt-primary' }];
    case 'playback': return [{ type: 'play-held', drop: state.now }];
    case 'restart-point': return [{ type: 'restart-point' }];
    case 'promote': return [{ type: 'promote' }];
    case 'done': case 'failed': return [{ type: 'report' }];
  }
}

function orderOf(state: FailoverState): FailoverPhase[] {
  return state.sync
    ? ['catch-up', 'demote', 'last-set', 'halt', 'playback', 'restart-point', 'promote', 'done']
    : ['demote', 'playback', 'restart-point', 'promote', 'done'];
}

function next(state: FailoverState): FailoverPhase {
  const order = orderOf(state);
  return order[order.indexOf(state.phase) + 1] ?? 'done';
}

const enter = (state: FailoverState): FailoverResult => ({ state, effects: effectOf(state) });

export function stepFailover(state: FailoverState, event: FailoverEvent): FailoverResult {
  if (event.type === 'start') {
    // (Re-)issued: a failed attempt starts again at the phase it failed in.
    return enter(state.phase === 'failed' ? { ...state, phase: resumeAt(state), error: undefined } : state);
  }
  if (event.phase !== state.phase) return { state, effects: [] }; // a stale outcome
  if (event.type === 'failed') {
    // Without -sync an unreachable primary is the disaster this is for: go on without it.
    if (state.phase === 'demote' && !state.sync) return enter({ ...state, phase: next(state), primaryDemoted: false });
    return enter({ ...state, phase: 'failed', error: { code: event.code, message: event.message, phase: state.phase } });
  }
  let updated: FailoverState = state;
  if (state.phase === 'demote') updated = { ...updated, primaryDemoted: true };
  if (state.phase === 'playback' && event.played !== undefined) updated = { ...updated, lastPlayed: event.played };
  if (state.phase === 'restart-point' && event.checkpoint) updated = { ...updated, restartPoint: event.checkpoint };
  return enter({ ...updated, phase: next(updated) });
}

/** Where a re-issue resumes: the phase that failed, or, if the new options skip it (-sync dropped), the start. */
function resumeAt(state: FailoverState): FailoverPhase {
  const order = orderOf(state);
  const failedIn = state.error?.phase;
  return failedIn !== undefined && order.includes(failedIn) ? failedIn : order[0]!;
}
