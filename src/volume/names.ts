// Checkpoint names are per volume, written `<fs>@<name>` as ZFS writes pool/fs@snap;
// a bare `<name>` is resolved against the volume a command names, or against every
// volume when it names none (then it must be unambiguous).

import { invalidArgument } from '../errors.js';
import { checkName } from '../engine/layout.js';

export interface CheckpointSpec {
  /** The volume, when the spec names one (`fs@name`). */
  volume?: string;
  checkpoint: string;
}

/** "fs@name" or "name", with both parts checked. */
export function parseCheckpointSpec(spec: string): CheckpointSpec {
  if (typeof spec !== 'string') throw invalidArgument(`a checkpoint must be named by a string, not ${typeof spec}`);
  const at = spec.indexOf('@');
  if (at < 0) return { checkpoint: checkName('checkpoint', spec) };
  return { volume: checkName('volume', spec.slice(0, at)), checkpoint: checkName('checkpoint', spec.slice(at + 1)) };
}

/** "fs" or "fs@name": a volume and, optionally, one of its checkpoints. */
export function parseVolumeSpec(spec: string): { volume: string; checkpoint?: string } {
  const at = spec.indexOf('@');
  if (at < 0) return { volume: checkName('volume', spec) };
  return { volume: checkName('volume', spec.slice(0, at)), checkpoint: checkName('checkpoint', spec.slice(at + 1)) };
}

export const fullName = (volume: string, checkpoint: string): string => `${volume}@${checkpoint}`;
