// scanDelta as the benches time and check it.

import { lib } from './dist.mjs';

const { scanDelta } = lib;

/** The scan as timed: its batches taken, not read. Returns the extents. */
export function scanTaken(options) {
  let n = 0;
  for (const batch of scanDelta(options)) n += batch.length;
  return n >>> 1;
}

/** The scan as checked: its extents and the blocks they cover. */
export function scanCovered(options) {
  let extents = 0;
  let blocks = 0;
  for (const batch of scanDelta(options)) {
    extents += batch.length >>> 1;
    for (let i = 1; i < batch.length; i += 2) blocks += batch[i];
  }
  return { extents, blocks };
}
