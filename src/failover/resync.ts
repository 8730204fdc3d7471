// Resync (FIG. 28–29) as a pure state machine, run on the node of the new source (the
// secondary that was failed over). The old primary is brought back to the restart point
// by undoing what it took after it, and then forward with the differential:
//
//   keep-diverged  the two sides' generation numbers and bit maps say whether both took
//                  writes since they parted (a split brain) and which side will follow;
//                  the old primary keeps what it took after the restart point as a
//                  checkpoint <pfs>@diverged-<time> (nothing is lost without consent),
//                  and says how many blocks diverged
//   raw            the old primary is made raw (being rebuilt: no reads or writes)
//   undo           it restores its own cut of the restart point's set: the before-images
//                  saved when those blocks were overwritten undo exactly the sets it took
//                  after that point (without that cut: refused, or with autofullcopy=yes
//                  the old primary is set aside and a full copy is made)
//   copy-1, copy-2 the changes since the restart point go over with the differential, to
//                  an intermediate checkpoint and then to the first set of the new direction
//                  (twice, as FIG. 29 does, while the source keeps taking writes)
//   reverse        the old primary becomes a read-only replica of the source, which
//                  replicates to it from that first set on
//
// Every effect is idempotent and each state is persisted before its effect runs, so a
// resync cut short at any point is finished by issuing the same command again.

import type { Phased } from './phases.js';

export type ResyncPhase = 'keep-diverged' | 'raw' | 'undo' | 'copy-1' | 'copy-2' | 'reverse';

export const RESYNC_PHASES: readonly ResyncPhase[] = ['keep-diverged', 'raw', 'undo', 'copy-1', 'copy-2', 'reverse'];

export interface ResyncState extends Phased<ResyncPhase> {
  sfs: string;
  pfs: string;
  primary: string;
  autofullcopy: boolean;
  /** What the old primary took after the restart point (blocks), and where it is kept. */
  diverged: { blocks: number; checkpoint: string | null } | null;
  /** Set when the old primary could not be undone and was set aside for a full copy. */
  fullCopy: boolean;
  /** What each side wrote since they parted, and the side made to follow (the old primary). */
  sides?: Sides;
}

export interface Sides {
  splitBrain: boolean;
  /** Blocks each side changed since they parted (null: unknown). */
  wrote: { source: number | null; follower: number | null };
  generations: { source: string | null; follower: string | null };
  follower: string;
}

/** What a phase may report. */
export interface ResyncResult {
  diverged?: { blocks: number; checkpoint: string | null };
  sides?: Sides;
  fullCopy?: boolean;
}

export function initialResync(sfs: string, pfs: string, primary: string, options: { autofullcopy: boolean }): ResyncState {
  return { sfs, pfs, primary, autofullcopy: options.autofullcopy, phase: 'keep-diverged', diverged: null, fullCopy: false };
}

export function mergeResync(state: ResyncState, result: ResyncResult): ResyncState {
  return {
    ...state,
    ...(result.diverged ? { diverged: result.diverged } : {}),
    ...(result.sides ? { sides: result.sides } : {}),
    ...(result.fullCopy ? { fullCopy: true } : {}),
  };
}
