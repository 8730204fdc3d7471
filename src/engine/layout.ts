// Where a volume keeps its files, and the record (volume.json) that says what it is.
// volume.json is only ever replaced atomically: it is the commit point of every
// change to the checkpoint queue.

import { join } from 'node:path';
import { invalidArgument } from '../errors.js';

export interface CheckpointRecord {
  /** Unique id (random); names the checkpoint's directory and, in delta streams, its image. */
  id: string;
  /** Order of creation within the volume. */
  seq: number;
  /** Unique within the data directory. */
  name: string;
  created: string;
  /** The id of the image this checkpoint holds: its own id, or a foreign one it equals (an import). */
  image: string;
}

export interface VolumeRecord {
  format: 1;
  uuid: string;
  name: string;
  blocks: number;
  blockSize: number;
  granularity: number;
  created: string;
  nextSeq: number;
  /** Head (oldest) first. */
  checkpoints: CheckpointRecord[];
  /** The image id the live volume equals, while it equals one (after a clone, import, restore or checkpoint). */
  base: string | null;
  /** rw (default), ro or raw: see Volume.mode. */
  mode?: 'rw' | 'ro' | 'raw';
  /** The image last imported, and what its source called it (`vol@tuesday`), for messages. */
  imported?: { id: string; name: string };
  /** Work that must finish before the volume is used (it is redone after a crash). */
  pending?: { restore?: string; import?: { to: string }; write?: { start: number; count: number } };
}

export const volumePaths = (dir: string) => ({
  record: join(dir, 'volume.json'),
  data: join(dir, 'data'),
  /** Which 64 MiB regions of data were never written (storage/hole-map.ts); none is known without it. */
  holes: join(dir, 'holes'),
  liveMeta: join(dir, 'meta.live'),
  wal: join(dir, 'wal.log'),
  checkpoints: join(dir, 'ckpt'),
  stage: join(dir, 'import.stage'),
});

export const checkpointPaths = (volumeDir: string, id: string) => {
  const dir = join(volumeDir, 'ckpt', id);
  return {
    dir,
    saveLog: join(dir, 'save.log'),
    bitmap: join(dir, 'bitmap'),
    blocks: join(dir, 'blocks'),
    meta: join(dir, 'meta'),
  };
};

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Volume and checkpoint names: letters, digits, '.', '_' and '-', not starting with a symbol. */
export function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw invalidArgument(`${kind} name ${JSON.stringify(name)} is not valid (letters, digits, '.', '_', '-'; up to 128)`);
  }
  return name;
}

/**
 * The image of a volume that holds nothing: every new volume starts as it, and a
 * delta from it is a full copy. Its id is fixed, so any two empty volumes agree.
 */
export const EMPTY_IMAGE = '00000000-0000-0000-0000-000000000000';

export function newId(): string {
  return crypto.randomUUID();
}
