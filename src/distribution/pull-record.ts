// What a pulled volume remembers (the seed's FIG. 37 step 642: the version Q it holds,
// the time of its last update Tu, the source it came from), in <data>/pulls/<fs>.json,
// replaced atomically. The version held is also the image of the volume's latest
// checkpoint; the record adds Tu (for --tmin) and the source.

import { join } from 'node:path';
import { makeDir, readFileOrUndefined, writeFileAtomic } from '../storage/file.js';

export interface PullRecord {
  volume: string;
  /** `<node>:<fs>` or the published directory's URL. */
  source: string;
  /** The image held (Q). */
  version: string;
  /** Its checkpoint name on the source. */
  name: string;
  /** When the volume was last brought up to date (Tu, ISO time). */
  updated: string;
}

export const pullsDir = (dataPath: string): string => join(dataPath, 'pulls');

export function pullRecordPath(dataPath: string, fs: string): string {
  return join(pullsDir(dataPath), `${fs}.json`);
}

/** The record of a volume's last pull, or undefined (never pulled, or a record that does not parse). */
export async function readPullRecord(dataPath: string, fs: string): Promise<PullRecord | undefined> {
  const bytes = await readFileOrUndefined(pullRecordPath(dataPath, fs));
  if (!bytes) return undefined;
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as PullRecord;
    return typeof value.updated === 'string' && typeof value.source === 'string' ? value : undefined;
  } catch {
    return undefined; // a record is a hint for --tmin; a bad one means "ask the source"
  }
}

export async function writePullRecord(dataPath: string, record: PullRecord): Promise<void> {
  await makeDir(pullsDir(dataPath));
  await writeFileAtomic(pullRecordPath(dataPath, record.volume), `${JSON.stringify(record, null, 2)}\n`);
}
