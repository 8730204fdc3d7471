// Failback (FIG. 30) as a fixed order of phases (phases.ts), run on the node of the
// current source: the other side is brought within one set, the source goes read-only,
// the last set is cut and played, the source stops sending, and the direction turns: the
// other side becomes the primary (read-write, replicating from the set both hold) and
// the source its read-only replica. No full copy; replication stops only for the last set.
// Also usable with no disaster, to move the primary role.

import type { Phased } from './phases.js';

export type FailbackPhase = 'catch-up' | 'source-ro' | 'last-set' | 'halt' | 'turn' | 'primary-rw';

export const FAILBACK_PHASES: readonly FailbackPhase[] = ['catch-up', 'source-ro', 'last-set', 'halt', 'turn', 'primary-rw'];

export interface FailbackState extends Phased<FailbackPhase> {
  /** The volume that is the source now, and the replica that becomes the primary. */
  source: string;
  replica: string;
  node: string;
  /** The set both hold when the direction turns. */
  set: number | null;
}

export function initialFailback(source: string, replica: string, node: string): FailbackState {
  return { source, replica, node, phase: 'catch-up', set: null };
}

export function mergeFailback(state: FailbackState, result: { set?: number }): FailbackState {
  return result.set === undefined ? state : { ...state, set: result.set };
}
