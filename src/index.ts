// snapcopy: block-level snapshot copies with fast snapshot differentials.
export { SnapcopyError, type SnapcopyErrorCode } from './errors.js';
export {
  ACC_BYTES, ARENA_BASE, type Backend, type BackendChoice, type KernelMemory, type Kernels,
  MAX_BLOCKS, MAX_GRANULARITY, ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, PAGE_SHIFT, ZERO_PAGE,
} from './kernels/api.js';
export { loadKernels, wasmKernelsAvailable } from './kernels/load.js';
export { Arena, type ArenaOptions, type ArenaStats } from './arena/arena.js';
export { PagedBitmap } from './arena/bitmap.js';
export {
  countDelta, deltaExtents, type DeltaScanOptions, type ExtentBatch, type MetaMaps, scanDelta,
} from './arena/delta-scan.js';
