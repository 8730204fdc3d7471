// What the write path, the read path and the checkpoint operations share: one open
// volume's files and maps. The Volume class (volume.ts) owns it, validates every
// call and runs one operation at a time on it.

import type { Arena } from '../arena/arena.js';
import type { PagedBitmap } from '../arena/bitmap.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { BlockFile, ClaimedPages } from '../storage/file.js';
import type { VolumeRecord } from './layout.js';
import type { Wal } from './wal.js';

export interface VolumeCore {
  readonly dir: string;
  record: VolumeRecord;
  readonly arena: Arena;
  readonly data: BlockFile;
  wal: Wal;
  /** The live meta bit map: one bit per 2^g blocks, set while a block of the granule is in use. */
  readonly liveMeta: PagedBitmap;
  /** The checkpoint queue, head (oldest) first. */
  checkpoints: Checkpoint[];
  /**
   * Pages of the volume file known to have their disk space allocated in this
   * process, so overwriting them cannot run out of space.
   */
  readonly claimed: ClaimedPages;
  /** Set when the files may no longer match memory: every later operation fails until the volume is reopened. */
  failed?: unknown;
}

export const blockSizeOf = (core: VolumeCore): number => core.record.blockSize;
export const granularityOf = (core: VolumeCore): number => core.record.granularity;
export const tailOf = (core: VolumeCore): Checkpoint | undefined => core.checkpoints[core.checkpoints.length - 1];

/** Largest number of blocks moved in one step (bounds memory whatever the request). */
export function stepBlocks(core: VolumeCore): number {
  return Math.max(1, Math.floor((4 << 20) / core.record.blockSize));
}
