// What a directory really costs on disk: allocated blocks (st_blocks), not file sizes,
// so sparse volume files and preallocated logs are counted honestly.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';

/** Bytes allocated on disk under `path` (0 when it does not exist). */
export async function diskUsage(path: string): Promise<number> {
  let stat;
  try {
    stat = await fs.lstat(path);
  } catch {
    return 0; // removed while we looked
  }
  const own = stat.blocks * 512;
  if (!stat.isDirectory()) return own;
  let total = own;
  const entries = await fs.readdir(path).catch(() => [] as string[]);
  for (const entry of entries) total += await diskUsage(join(path, entry));
  return total;
}
