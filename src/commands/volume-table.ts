// How volumes are printed by list and info: sizes people read at a glance, and the
// same fields as JSON for scripts.

import type { VolumeInfo } from '../volume/data-dir.js';
import { formatBytes } from './io.js';

export const VOLUME_COLUMNS = ['NAME', 'SIZE', 'BLOCK', 'G', 'USED', 'CKPTS', 'BASE'] as const;

/** One row of `list`: name, size, block size, granularity, bytes on disk, checkpoints, base image. */
export function volumeRow(v: VolumeInfo): string[] {
  return [
    v.name, formatBytes(v.size), String(v.blockSize), String(v.granularity), formatBytes(v.usedBytes),
    String(v.checkpoints.length), v.base ?? '-',
  ];
}

/** Rows padded into columns. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}
