// Runs a failover's state machine (failover.ts): persists each state before its
// effects, performs them through a small host (the replication application lends it),
// and feeds their outcomes back in, until the failover is done or has failed.

import { SnapcopyError } from '../errors.js';
import { type FailoverEffect, type FailoverEvent, type FailoverState, stepFailover } from './failover.js';
import { failpoint } from './failpoints.js';

export interface FailoverHost {
  save(state: FailoverState): Promise<void>;
  /** The primary's node: cut a set now and wait until this secondary played it. */
  refreshPrimary(state: FailoverState): Promise<void>;
  /** The primary's node: make the primary read-only. */
  demotePrimary(state: FailoverState): Promise<void>;
  /** The primary's node: stop sending (keeping its cuts, for a later resync). */
  haltPrimary(state: FailoverState): Promise<void>;
  /** Plays (or, with drop, discards) the sets the secondary holds; the last set played. */
  playHeld(state: FailoverState, drop: boolean): Promise<number | null>;
  /** A checkpoint of the secondary stamped with the last set played; its name. */
  restartPoint(state: FailoverState): Promise<string>;
  /** The secondary stops being a replica and becomes read-write. */
  promote(state: FailoverState): Promise<void>;
}

async function perform(host: FailoverHost, state: FailoverState, effect: FailoverEffect): Promise<FailoverEvent | undefined> {
  const phase = state.phase;
  try {
    switch (effect.type) {
      case 'refresh-primary': await host.refreshPrimary(state); return { type: 'done', phase };
      case 'demote-primary': await host.demotePrimary(state); return { type: 'done', phase };
      case 'halt-primary': await host.haltPrimary(state); return { type: 'done', phase };
      case 'play-held': return { type: 'done', phase, played: await host.playHeld(state, effect.drop) };
      case 'restart-point': return { type: 'done', phase, checkpoint: await host.restartPoint(state) };
      case 'promote': await host.promote(state); return { type: 'done', phase };
      case 'report': return undefined;
    }
  } catch (error) {
    const e = error as SnapcopyError;
    return { type: 'failed', phase, code: e.code ?? 'ERR_IO', message: e.message ?? String(error) };
  }
}

/** Runs (or resumes) a failover to its end; throws its error when it failed. */
export async function runFailover(host: FailoverHost, initial: FailoverState): Promise<FailoverState> {
  let { state, effects } = stepFailover(initial, { type: 'start' });
  for (;;) {
    await host.save(state);
    if (state.phase !== 'failed') failpoint(`failover.${state.phase}.saved`);
    const effect = effects[0];
    const event = effect ? await perform(host, state, effect) : undefined;
    if (!event) break;
    if (state.phase !== 'done' && state.phase !== 'failed') failpoint(`failover.${state.phase}.performed`);
    ({ state, effects } = stepFailover(state, event));
  }
  if (state.phase === 'failed') {
    throw new SnapcopyError((state.error?.code ?? 'ERR_IO') as never,
      `failover of ${state.sfs} stopped at ${state.error?.phase}: ${state.error?.message} (fix the cause and issue the same command again)`);
  }
  return state;
}
