// Nop-write (DESIGN.md §2: a write of a block with the content it already holds is no
// change). Before a write, each block's new content is compared with what the volume
// holds; a block left as it is needs no before-image, no bit in the tail's bit map and
// no write, so a whole file rewritten gives a delta of the blocks that really differ.
// Exact: bytes are compared (memcmp), no hash. A block whose granule is not in use is
// never a nop: writing it brings the granule into use, which is a change even when the
// bytes are zeros.

import { Buffer } from 'node:buffer';
import { blockSizeOf, granularityOf, type VolumeCore } from './core.js';

/**
 * One byte per block of [start, start + n): 1 where the write leaves the block as it
 * is, else 0. `current` holds the blocks' image now; `data` the bytes written from byte
 * `dataOffset` of the volume. A block the data covers in part is compared on the bytes
 * it covers (the rest keeps its old content), one the data does not reach at all (the
 * rest of a granule coming into use) is a change.
 */
export function unchangedBlocks(
  core: VolumeCore, start: number, n: number, current: Uint8Array, data: Uint8Array, dataOffset: number,
): Uint8Array {
  const size = blockSizeOf(core);
  const g = granularityOf(core);
  const flags = new Uint8Array(n);
  const now = asBuffer(current);
  const next = asBuffer(data);
  const dataEnd = dataOffset + data.length;
  const base = start * size;
  for (let i = 0; i < n; i++) {
    const lo = Math.max(base + i * size, dataOffset);
    const hi = Math.min(base + (i + 1) * size, dataEnd);
    if (lo >= hi || !core.liveMeta.get((start + i) >>> g)) continue;
    flags[i] = next.compare(now, lo - base, hi - base, lo - dataOffset, hi - dataOffset) === 0 ? 1 : 0;
  }
  return flags;
}

/** The blocks [lo, hi) from the first to the last one the flags say change, or undefined when none does. */
export function changedSpan(unchanged: Uint8Array): [number, number] | undefined {
  let lo = 0;
  while (lo < unchanged.length && unchanged[lo]) lo++;
  if (lo === unchanged.length) return undefined;
  let hi = unchanged.length;
  while (unchanged[hi - 1]) hi--;
  return [lo, hi];
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
