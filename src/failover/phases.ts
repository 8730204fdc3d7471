// Procedures that are a fixed order of phases (resync, failback): a pure step function
// over the order, and a runner that persists the state before each phase and feeds the
// phase's outcome back in. Each phase must be idempotent: a procedure cut short at any
// point is finished by running it again from its persisted state, and one that failed
// resumes at the phase that failed.

import { failpoint, type FailpointName } from './failpoints.js';

export interface Phased<P extends string> {
  phase: P | 'done' | 'failed';
  error?: { code: string; message: string; phase: P };
}

export type PhaseEvent<P extends string, R> =
  | { type: 'start' }
  | { type: 'done'; phase: P; result: R }
  | { type: 'failed'; phase: P; code: string; message: string };

/** The next state: the phase after the one done (with its result merged in), or failed. */
export function stepPhases<P extends string, R, S extends Phased<P>>(
  order: readonly P[], state: S, event: PhaseEvent<P, R>, merge: (state: S, result: R) => S,
): S {
  if (event.type === 'start') {
    if (state.phase !== 'failed') return state;
    return { ...state, phase: state.error?.phase ?? order[0]!, error: undefined };
  }
  if (event.phase !== state.phase) return state; // a stale outcome
  if (event.type === 'failed') return { ...state, phase: 'failed', error: { code: event.code, message: event.message, phase: event.phase } };
  const after = order[order.indexOf(event.phase) + 1];
  return { ...merge(state, event.result), phase: after ?? 'done' };
}

/** Runs phases until done or failed; `save` is called before every phase. */
export async function runPhases<P extends string, R, S extends Phased<P>>(
  order: readonly P[], initial: S, options: {
    save(state: S): Promise<void>;
    perform(state: S, phase: P): Promise<R>;
    merge(state: S, result: R): S;
    /** The procedure's name in its failpoints (failpoints.ts): `<name>.<phase>.saved` and `.performed`. */
    name?: 'resync' | 'failback';
  },
): Promise<S> {
  const point = (phase: string, step: 'saved' | 'performed') => {
    if (options.name) failpoint(`${options.name}.${phase}.${step}` as FailpointName);
  };
  let state = stepPhases(order, initial, { type: 'start' }, options.merge);
  for (;;) {
    await options.save(state);
    if (state.phase !== 'failed') point(state.phase, 'saved');
    if (state.phase === 'done' || state.phase === 'failed') return state;
    const phase = state.phase as P;
    let event: PhaseEvent<P, R>;
    try {
      event = { type: 'done', phase, result: await options.perform(state, phase) };
      point(phase, 'performed');
    } catch (error) {
      const e = error as { code?: string; message?: string };
      event = { type: 'failed', phase, code: e.code ?? 'ERR_IO', message: e.message ?? String(error) };
    }
    state = stepPhases(order, state, event, options.merge);
  }
}
