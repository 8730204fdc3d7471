// An outbound hop's reachability as a pure state machine (as etcd's raft: step(state,
// event) → { state, effects }, time as an event): when to redial and how long to back
// off, when to cover for a hop that stays down (serve its own next hops directly,
// FIG. 16), and when to give up on one. hop.ts performs the effects (dials, timers,
// sessions' hop lists) and feeds their outcomes back in, so the decisions are tested as
// scripts without sockets or clocks.

export type HopPhase = 'connecting' | 'open' | 'down' | 'superseded' | 'failed' | 'closed';

export interface HopReach {
  phase: HopPhase;
  /** Dials since the hop was last open (sets the backoff). */
  attempts: number;
  /** Since when the hop has been unreachable (undefined while open or before the first failure). */
  downSince: number | undefined;
  /** Whether it has been open at least once in this session. */
  everOpened: boolean;
  /** Whether its next hops are being served directly. */
  covered: boolean;
  error: { code: string; message: string } | undefined;
}

export type HopEvent =
  | { type: 'dial' }
  | { type: 'opened' }
  /** A dial failed or an open connection closed. */
  | { type: 'lost'; now: number; code: string; message: string }
  /** The hop cannot be used any more (a frame no longer held, say). */
  | { type: 'fatal'; code: string; message: string }
  | { type: 'tick'; now: number; coverAfterMs: number; knowsNextHops: boolean }
  | { type: 'close' };

export type HopEffect =
  | { type: 'dial' }
  | { type: 'send' }
  | { type: 'redial'; afterMs: number }
  | { type: 'cover' }
  | { type: 'drop' }
  | { type: 'fail' }
  | { type: 'close' };

/** The longest wait between redials. */
export const MAX_BACKOFF_MS = 1000;
/** Errors after which redialing cannot help. */
export const PERMANENT = new Set(['ERR_UNKNOWN_GROUP', 'ERR_AUTH', 'ERR_VERSION', 'ERR_UNKNOWN_SESSION', 'ERR_INVALID_ARGUMENT', 'ERR_NOT_FOUND']);

export function initialReach(): HopReach {
  return { phase: 'connecting', attempts: 0, downSince: undefined, everOpened: false, covered: false, error: undefined };
}

export const isFinished = (phase: HopPhase): boolean => phase === 'superseded' || phase === 'failed' || phase === 'closed';

/** The wait before the next dial after `attempts` dials: 50 ms doubling, at most MAX_BACKOFF_MS. */
export const backoffMs = (attempts: number): number => Math.min(MAX_BACKOFF_MS, 25 * 2 ** Math.min(attempts, 6));

type Step = { state: HopReach; effects: HopEffect[] };

const failed = (state: HopReach, error: { code: string; message: string }): Step =>
  ({ state: { ...state, phase: 'failed', error }, effects: [{ type: 'fail' }] });

export function stepHop(state: HopReach, event: HopEvent): Step {
  if (isFinished(state.phase)) return { state, effects: [] };
  switch (event.type) {
    case 'dial':
      return { state: { ...state, phase: 'connecting', attempts: state.attempts + 1 }, effects: [{ type: 'dial' }] };
    case 'opened':
      return {
        state: { ...state, phase: 'open', attempts: 0, downSince: undefined, everOpened: true },
        effects: [{ type: 'send' }],
      };
    case 'lost': {
      const error = { code: event.code, message: event.message };
      if (event.code === 'ERR_SUPERSEDED') return { state: { ...state, phase: 'superseded', error }, effects: [{ type: 'drop' }] };
      if (PERMANENT.has(event.code)) return failed(state, error);
      return {
        state: { ...state, phase: 'down', error, downSince: state.downSince ?? event.now },
        effects: [{ type: 'redial', afterMs: backoffMs(state.attempts) }],
      };
    }
    case 'fatal':
      return failed(state, { code: event.code, message: event.message });
    case 'tick':
      return tick(state, event);
    case 'close':
      return { state: { ...state, phase: 'closed' }, effects: [{ type: 'close' }] };
  }
}

/** Time passing while the hop is not open: cover for it after the cover delay; give up on one never reached. */
function tick(state: HopReach, event: Extract<HopEvent, { type: 'tick' }>): Step {
  if (state.phase === 'open' || state.downSince === undefined || event.now - state.downSince < event.coverAfterMs) {
    return { state, effects: [] };
  }
  const effects: HopEffect[] = [];
  let next = state;
  if (!state.covered && event.knowsNextHops) {
    next = { ...next, covered: true };
    effects.push({ type: 'cover' });
  }
  // A hop never reached in this session is most likely not there at all (nothing
  // listening, a wrong address): say so now rather than after the give-up time. One that
  // was reached and went away may be restarting, so it keeps being redialed until then.
  if (!state.everOpened) {
    const last = state.error ? ` (${state.error.message})` : '';
    const gaveUp = failed(next, { code: 'ERR_UNREACHABLE', message: `no connection within ${event.coverAfterMs} ms${last}` });
    return { state: gaveUp.state, effects: [...effects, ...gaveUp.effects] };
  }
  return { state: next, effects };
}
