// The kernel backend this run of the suite uses (vitest.config.ts runs it once per backend).
import { Arena, type Backend } from '../../src/index.js';

const chosen = process.env.SNAPCOPY_KERNELS ?? 'wasm';
if (chosen !== 'wasm' && chosen !== 'ts') throw new Error(`SNAPCOPY_KERNELS must be wasm or ts, not ${chosen}`);

export const backend: Backend = chosen;

export function newArena(): Arena {
  return new Arena({ kernels: backend });
}
