/**
 * The kernel interface: the hot loops of snapcopy, implemented twice behind it,
 * as WebAssembly SIMD compiled from assembly/ and as a pure-TypeScript twin.
 *
 * Both work on one linear memory, the arena, with the same layout (assembly/lib/layout.ts):
 * every argument is a byte offset or a count, never a copy. A bit map is a page
 * table of u32 entries, one per PAGE_BLOCKS blocks, each naming a 4 KiB page or a
 * sentinel (ZERO_PAGE, ONES_PAGE) that is never stored nor read. Block b is bit
 * (b & 7) of byte (b >> 3) of its page. A meta bit map at granularity g has one bit
 * per 2^g blocks and the same page layout over its bits.
 *
 * Kernels do not validate: src/arena checks arguments before it calls them. Every
 * offset is 4-byte aligned, and pages and the accumulator 16-byte aligned (each
 * kernel's header says which); the arena hands out 4 KiB-aligned runs.
 */

export const PAGE_BYTES = 4096;
export const PAGE_SHIFT = 15;
export const PAGE_BLOCKS = 1 << PAGE_SHIFT;
export const ZERO_PAGE = 0;
export const ONES_PAGE = 1;
/**
 * A sparse bit map page (as Roaring's array containers): entry = offset | SPARSE_TAG,
 * the offset 16-byte aligned, holding a u16 count n <= SPARSE_MAX and n u16 bit numbers
 * within the page. Only the delta scan and count kernels read it, in bit maps (not meta
 * maps); PagedBitmap writes it in maps made with { sparse: true } (src/arena/sparse-page.ts).
 */
export const SPARSE_TAG = 2;
export const SPARSE_MAX = 2047;
/** Offsets below this are never pages; they hold nothing. */
export const ARENA_BASE = 65536;
/** Block numbers are u32 in the kernels; ranges end at most here. */
export const MAX_BLOCKS = 2 ** 31;
export const MAX_GRANULARITY = 6;
/**
 * Bytes of scratch a scan or count needs: the accumulator page, a page listing what to OR,
 * a page for meta-level work, 32 bytes for the scan's extent emitter (assembly/lib/extents.ts)
 * and the bit numbers of a page worked from sparse lists (2 per bit, at most 512 bits, and
 * 16 for the last 16-byte store; assembly/lib/sparse-lists.ts flattenLists), as laid out
 * in assembly/lib/layout.ts (EXTENTS_AT, FLAT_AT).
 */
export const ACC_BYTES = 3 * PAGE_BYTES + 32 + 2 * 512 + 16;
/** Scratch popcountRuns takes: two lists of a page's gaps (assembly/lib/run-gaps.ts) and a page of marks. */
export const RUNS_SCRATCH_BYTES = 2 * 65536 + PAGE_BYTES;
/**
 * Bytes past its last allocated byte that an arena's memory always holds: the kernels
 * copy a sparse page's list 16 bytes at a time, which can read 2 bytes past its slot.
 */
export const ARENA_SLACK = 16;

export type Backend = 'wasm' | 'ts';
export type BackendChoice = Backend | 'auto';

/** The arena's memory, owned by the backend that runs kernels on it. */
export interface KernelMemory {
  /** The current bytes; the object changes when the memory grows (WebAssembly). */
  readonly buffer: ArrayBuffer;
  /** Grows to at least `bytes` (rounded up to 64 KiB); false when it cannot. */
  grow(bytes: number): boolean;
  /** The most the memory can ever hold. */
  readonly maxBytes: number;
}

export interface Kernels {
  readonly backend: Backend;
  readonly memory: KernelMemory;

  /**
   * Delta scan, FIG. 34/35 (assembly/scan-plain.ts). Returns extents written; the rest of
   * the `capacity` slots at `out` may hold anything after the call (never past them).
   */
  scanPlain(tables: number, count: number, from: number, to: number,
    out: number, capacity: number, cursor: number, acc: number): number;

  /** Delta scan with meta bit maps, FIG. 39/40 (assembly/scan-meta.ts). Returns extents written. */
  scanMeta(tables: number, metas: number, count: number, live: number, g: number,
    from: number, to: number, out: number, capacity: number, cursor: number, acc: number): number;

  /** Blocks scanPlain would report. */
  popcountPlain(tables: number, count: number, from: number, to: number, acc: number): number;

  /** Blocks scanMeta would report: the exact size of a delta. */
  popcountMeta(tables: number, metas: number, count: number, live: number, g: number,
    from: number, to: number, acc: number): number;

  /**
   * The set bits of pages several maps store, from each map's runs of the page
   * (assembly/popcount-runs.ts): `list` holds per page its size, k and k arena offsets
   * of run lists; `scratch` RUNS_SCRATCH_BYTES. Returns the sum over the `pages` pages.
   */
  popcountRuns(list: number, pages: number, scratch: number): number;

  /** dst |= src over page tables of `pages` entries (src consumed). Returns dst entries changed. */
  orMerge(dst: number, src: number, pages: number): number;

  /** One bit per 2^g blocks → one bit per block. Returns set bits written. */
  granularityExpand(src: number, dst: number, dstBytes: number, g: number): number;

  /** One bit per block → one bit per 2^g blocks (any). Returns set bits written. */
  granularityShrink(src: number, dst: number, dstBytes: number, g: number): number;

  /** Pages of a page table into flat bytes. Returns stored pages read. */
  gatherPages(table: number, first: number, pages: number, dst: number): number;

  /**
   * One step of the checksum (assembly/checksum.ts) over `len` bytes at `ptr` (any
   * alignment): from state (b << 32) | a to the state after them, as an unsigned 64-bit
   * value. src/storage/checksum.ts builds the checksum of records and frames from it.
   */
  checksum(ptr: number, len: number, state: bigint): bigint;

  /**
   * Which blocks differ between the regions at `a` and `b` (assembly/compare-blocks.ts):
   * `blocks` blocks of `blockBytes` bytes each (any alignment), one byte per block to
   * `out` (1 differs, 0 same). Returns how many differ. For nop-write: an unchanged
   * block need not be written.
   */
  compareBlocks(a: number, b: number, blockBytes: number, blocks: number, out: number): number;
}
