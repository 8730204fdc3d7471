// The older part of a read's checkpoints folded into one layer. Block b of checkpoint
// C's image is in the oldest save volume from C on that holds it (FIG. 27), so the
// checkpoints C..k, oldest first, fold into one bit map (their union) and, for each of
// its blocks, the save volume and record of the first that holds it. A checkpoint's
// maps are loaded for the fold and freed right after it (those already staged are read
// in place), so a read of the oldest of a thousand checkpoints holds the fold, which
// grows with the blocks saved, not with the number of checkpoints.

import { PagedBitmap } from '../arena/bitmap.js';
import { deltaExtents } from '../arena/delta-scan.js';
import type { VolumeCore } from '../engine/core.js';
import { BlockMap } from './block-map.js';
import type { Checkpoint } from './checkpoint.js';
import type { Layer } from './read-path.js';
import type { SaveLog } from './save-log.js';

export interface FoldedLayer extends Layer {
  /** Frees the union and closes the save volumes the fold opened. */
  close(): Promise<void>;
}

/** Folds `checkpoints` (consecutive, oldest first) into one layer. */
export async function foldLayers(core: VolumeCore, checkpoints: readonly Checkpoint[]): Promise<FoldedLayer> {
  const union = PagedBitmap.create(core.arena, core.record.blocks, { sparse: true });
  const logOf = new BlockMap();
  const recordOf = new BlockMap();
  const logs: SaveLog[] = [];
  const opened: SaveLog[] = [];
  const close = async () => {
    union.free();
    await Promise.allSettled(opened.map((log) => log.close()));
  };
  try {
    for (const c of checkpoints) {
      const staged = c.staged;
      const maps = staged ? await c.maps() : await c.loadMaps();
      let holds = false;
      try {
        for (const [first, length] of deltaExtents({ bitmaps: [maps.bitmap], from: 0, to: core.record.blocks })) {
          for (let b = first; b < first + length; b++) {
            if (union.get(b)) continue; // an older checkpoint holds it, and wins
            union.set(b);
            logOf.add(b, logs.length);
            recordOf.add(b, maps.blockMap.get(b));
            holds = true;
          }
        }
      } finally {
        if (!staged) maps.bitmap.free();
      }
      if (holds) logs.push(maps.log);
      if (!staged) {
        if (holds) opened.push(maps.log);
        else await maps.log.close();
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { bitmap: union, logs, logOf: (b) => logOf.get(b), recordOf: (b) => recordOf.get(b), close };
}
