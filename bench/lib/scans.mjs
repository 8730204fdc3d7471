// scanDelta as the benches time and check it.

import { lib } from './dist.mjs';

const { scanDelta } = lib;

/**
 * The scan as timed: its batches taken, not read, in one reused buffer (`reuse: true`,
 * as the library's exports, replication and reads take them; a copy per batch, the
 * default, costs an allocation a batch: bench/lib/scan-batches-ab.mjs). Returns the extents.
 */
export function scanTaken(options) {
  let n = 0;
  for (const batch of scanDelta({ ...options, reuse: true })) n += batch.length;
  return n >>> 1;
}

/** The scan as checked, with the default copies: its extents and the blocks they cover. */
export function scanCovered(options) {
  let extents = 0;
  let blocks = 0;
  for (const batch of scanDelta(options)) {
    extents += batch.length >>> 1;
    for (let i = 1; i < batch.length; i += 2) blocks += batch[i];
  }
  return { extents, blocks };
}
