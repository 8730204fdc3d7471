// The delta scan over bit maps (FIG. 34/35 and 39/40): validates, lays the page-table
// lists out in the arena and streams the kernels' extents in batches, so a scan of
// any size runs in a fixed amount of memory.

import { invalidArgument, outOfRange } from '../errors.js';
import { ACC_BYTES, MAX_GRANULARITY, PAGE_BLOCKS } from '../kernels/api.js';
import type { Arena } from './arena.js';
import type { PageScratch, PagedBitmap } from './bitmap.js';
import { PAGE_RUNS_LIMIT } from './kept-runs.js';
import { storedRanges, walkStored } from './occupancy.js';
import { RunCount } from './run-count.js';

/** Meta bit maps for a meta-aware scan: one per bit map, and the younger image's. */
export interface MetaMaps {
  /** Meta maps of checkpoints L..M-1, in the order of `bitmaps`. */
  metas: readonly PagedBitmap[];
  /** The meta map of M (the younger checkpoint, or the live volume). */
  live: PagedBitmap;
  /** Blocks per meta bit = 2^granularity; 0..6. */
  granularity: number;
}

export interface DeltaScanOptions {
  /** Bit maps of checkpoints L..M-1 (FIG. 34: the ones OR'ed together). */
  bitmaps: readonly PagedBitmap[];
  /** With meta maps, the scan is FIG. 40's: metaM & OR(bitmap_I | ~meta_I). */
  meta?: MetaMaps;
  /** Block range; defaults to the whole map. */
  from?: number;
  to?: number;
  /** Extents per batch (every batch but the last holds this many); default 8192. */
  batch?: number;
  /**
   * Hand out every batch in one buffer the scan keeps, overwritten by the next batch,
   * instead of a fresh copy each: for callers done with a batch before they ask for the
   * next. Saves an allocation per batch, whose memory the system may have to fault in
   * anew each time (about 12 µs a 4 KiB page on a VM). Default false.
   */
  reuse?: boolean;
}

/** A batch of extents: pairs (start, length) in ascending order. */
export type ExtentBatch = Uint32Array;

interface Plan {
  arena: Arena;
  count: number;
  from: number;
  to: number;
  batch: number;
  reuse: boolean;
  meta: MetaMaps | undefined;
}

function checkedPlan(options: DeltaScanOptions): Plan {
  const { bitmaps, meta } = options;
  if (!Array.isArray(bitmaps) || bitmaps.length === 0) throw invalidArgument('a delta scan needs at least one bit map');
  const arena = bitmaps[0]!.arena;
  const blocks = bitmaps[0]!.bits;
  for (const map of bitmaps) {
    if (map.arena !== arena) throw invalidArgument('all bit maps of a scan must live in one arena');
    if (map.bits !== blocks) throw invalidArgument(`bit maps of ${map.bits} and ${blocks} bits cannot be scanned together`);
  }
  if (meta) checkMeta(meta, arena, blocks, bitmaps.length);
  const from = options.from ?? 0;
  const to = options.to ?? blocks;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to || to > blocks) {
    throw outOfRange(`blocks [${from}, ${to}) are not within [0, ${blocks})`);
  }
  const batch = options.batch ?? 8192;
  if (!Number.isSafeInteger(batch) || batch < 1 || batch > 1 << 24) throw invalidArgument(`batch must be 1..${1 << 24}, not ${batch}`);
  const reuse = options.reuse ?? false;
  if (typeof reuse !== 'boolean') throw invalidArgument(`reuse must be true or false, not ${String(reuse)}`);
  return { arena, count: bitmaps.length, from, to, batch, reuse, meta };
}

function checkMeta(meta: MetaMaps, arena: Arena, blocks: number, count: number): void {
  const g = meta.granularity;
  if (!Number.isInteger(g) || g < 0 || g > MAX_GRANULARITY) throw invalidArgument(`granularity must be 0..${MAX_GRANULARITY}, not ${g}`);
  if (meta.metas.length !== count) throw invalidArgument(`${count} bit maps need ${count} meta maps, not ${meta.metas.length}`);
  const bits = Math.ceil(blocks / 2 ** g);
  for (let i = 0; i <= count; i++) checkMetaMap(i < count ? meta.metas[i]! : meta.live, arena, blocks, g, bits);
}

function checkMetaMap(map: PagedBitmap, arena: Arena, blocks: number, g: number, bits: number): void {
  if (map.arena !== arena) throw invalidArgument('meta maps must live in the arena of the bit maps');
  // The meta-aware kernels read dense meta pages only.
  if (map.sparse) throw invalidArgument('a meta map cannot keep sparse pages (made with { sparse: true })');
  if (map.bits !== bits) throw invalidArgument(`a meta map of ${blocks} blocks at granularity ${g} has ${bits} bits, not ${map.bits}`);
}

/**
 * Arena space for one kernel call: the accumulator (page aligned), the page-table lists,
 * the cursor, a one-table list for PagedBitmap's page counts and runs, the output.
 */
class ScanSpace implements PageScratch {
  readonly list: number;
  readonly tables: number;
  readonly metas: number;
  readonly cursor: number;
  readonly acc: number;
  readonly out: number;
  readonly #bytes: number;

  constructor(readonly arena: Arena, options: DeltaScanOptions, plan: Plan) {
    // The lists: tables, metas, the cursor and the one-table list (8 bytes) in the 16 after them.
    const lists = Math.ceil((plan.count * 8 + 16) / 16) * 16;
    // The output holds a batch and one extent more (Batches).
    this.#bytes = ACC_BYTES + lists + (plan.batch + 1) * 8;
    const base = arena.allocScratch(this.#bytes);
    this.acc = base;
    this.tables = base + ACC_BYTES;
    this.metas = this.tables + plan.count * 4;
    this.cursor = this.metas + plan.count * 4;
    this.list = this.cursor + 4;
    this.out = this.tables + lists;
    try {
      this.#listTables(options.bitmaps, this.tables);
      if (plan.meta) this.#listTables(plan.meta.metas, this.metas);
    } catch (error) {
      // A freed map (ERR_FREED): nothing stays allocated.
      this.free();
      throw error;
    }
  }

  #listTables(maps: readonly PagedBitmap[], at: number): void {
    const u32 = this.arena.u32;
    for (let i = 0; i < maps.length; i++) u32[(at >>> 2) + i] = maps[i]!.table;
  }

  free(): void {
    this.arena.free(this.acc, this.#bytes);
  }
}

function runKernel(plan: Plan, space: ScanSpace, meta: MetaMaps | undefined, from: number, to: number,
  out: number, capacity: number): number {
  const k = plan.arena.kernels;
  return meta
    ? k.scanMeta(space.tables, space.metas, plan.count, meta.live.table, meta.granularity, from, to,
      out, capacity, space.cursor, space.acc)
    : k.scanPlain(space.tables, plan.count, from, to, out, capacity, space.cursor, space.acc);
}

/**
 * The changed blocks of a delta, as batches of (start, length) extents in ascending
 * block order. Each batch is a copy the caller may keep, or with `reuse` a view of one
 * buffer that the next batch overwrites.
 */
export function* scanDelta(options: DeltaScanOptions): Generator<ExtentBatch, void, undefined> {
  const plan = checkedPlan(options);
  const space = new ScanSpace(plan.arena, options, plan);
  try {
    const batches = new Batches(plan, space);
    for (const [from, to, meta] of scanRanges(plan, options.bitmaps)) {
      let at = from;
      while (at < to) {
        batches.add(runKernel(plan, space, meta, at, to, batches.free, batches.room));
        at = plan.arena.u32[space.cursor >>> 2]!;
        if (batches.full) yield batches.take();
      }
    }
    if (batches.size > 0) yield batches.take();
  } finally {
    space.free();
  }
}

/**
 * The delta's block range in parts, in order: with meta maps, the meta-aware parts over
 * meta pages some map (of L..M-1 or M) leaves partly unused, and between them plain
 * parts, since where every meta bit is 1 FIG. 40 is the OR of the bit maps. Neighbouring
 * parts touch. Without meta maps, one plain part.
 */
function metaParts(plan: Plan): Array<[number, number, MetaMaps | undefined]> {
  const meta = plan.meta;
  if (!meta) return [[plan.from, plan.to, undefined]];
  // Blocks per meta page; meta page q covers blocks [q * span, (q + 1) * span).
  const span = PAGE_BLOCKS * 2 ** meta.granularity;
  const notFull = [...meta.metas, meta.live].map((map) => map.notFull);
  const ranges = storedRanges(notFull, Math.floor(plan.from / span), Math.ceil(plan.to / span));
  const parts: Array<[number, number, MetaMaps | undefined]> = [];
  let at = plan.from;
  for (let i = 0; i < ranges.length; i += 2) {
    const lo = Math.max(plan.from, ranges[i]! * span);
    const hi = Math.min(plan.to, ranges[i + 1]! * span);
    if (at < lo) parts.push([at, lo, undefined]);
    parts.push([lo, hi, meta]);
    at = hi;
  }
  if (at < plan.to) parts.push([at, plan.to, undefined]);
  return parts;
}

/**
 * The block ranges a scan runs its kernels over: the meta-aware parts whole, and of the
 * plain parts only the pages the bit maps store (occupancy.ts).
 */
function* scanRanges(plan: Plan, bitmaps: readonly PagedBitmap[]): Generator<[number, number, MetaMaps | undefined]> {
  const stored = bitmaps.map((map) => map.stored);
  for (const [from, to, meta] of metaParts(plan)) {
    if (meta) {
      yield [from, to, meta];
      continue;
    }
    const pages = storedRanges(stored, Math.floor(from / PAGE_BLOCKS), Math.ceil(to / PAGE_BLOCKS));
    for (let i = 0; i < pages.length; i += 2) {
      yield [Math.max(from, pages[i]! * PAGE_BLOCKS), Math.min(to, pages[i + 1]! * PAGE_BLOCKS), undefined];
    }
  }
}

/**
 * The output buffer of a scan (room for batch + 1 extents), filled by kernel calls over
 * ranges that may touch: an extent that starts where the one before it ends joins it,
 * so extents stay maximal across ranges. A batch goes out once an extent follows it,
 * which then leads the next batch, so no extent given out can still grow.
 */
class Batches {
  size = 0;
  readonly #out: number;
  /** With plan.reuse: the one buffer every batch is handed out in. */
  #reused: Uint32Array | undefined;

  constructor(readonly plan: Plan, space: ScanSpace) {
    this.#out = space.out >>> 2;
  }

  /** Where the next kernel call writes, and how many extents fit there (at least 1). */
  get free(): number {
    return (this.#out + this.size * 2) * 4;
  }

  get room(): number {
    return this.plan.batch + 1 - this.size;
  }

  /** A whole batch and the extent after it. */
  get full(): boolean {
    return this.size > this.plan.batch;
  }

  /** Takes in `n` extents the kernel just wrote at `free`, joining the first to the last before it. */
  add(n: number): void {
    if (n === 0) return;
    const u32 = this.plan.arena.u32;
    const first = this.#out + this.size * 2;
    if (this.size > 0 && u32[first - 2]! + u32[first - 1]! === u32[first]!) {
      u32[first - 1] = u32[first - 1]! + u32[first + 1]!;
      u32.copyWithin(first, first + 2, first + 2 * n);
      n--;
    }
    this.size += n;
  }

  /** The first `batch` extents (all, at the end), copied out of the arena; what follows them moves up. */
  take(): ExtentBatch {
    const u32 = this.plan.arena.u32;
    const n = Math.min(this.size, this.plan.batch);
    const end = this.#out + n * 2;
    let batch: Uint32Array;
    if (this.plan.reuse) {
      // Never a view of the arena itself: a kernel call or a grown arena would change it under the caller.
      this.#reused ??= new Uint32Array(this.plan.batch * 2);
      batch = this.#reused.subarray(0, n * 2);
      batch.set(u32.subarray(this.#out, end));
    } else {
      batch = u32.slice(this.#out, end);
    }
    u32.copyWithin(this.#out, end, this.#out + this.size * 2);
    this.size -= n;
    return batch;
  }
}

/**
 * The number of changed blocks of a delta (its exact size), without listing them: the
 * meta-aware kernel over the meta-aware parts, a plain count over the stored pages of
 * the others.
 */
export function countDelta(options: DeltaScanOptions): number {
  const plan = checkedPlan(options);
  // Room for the extents of one page with PAGE_RUNS_LIMIT runs and one more (PagedBitmap.pageRuns).
  const space = new ScanSpace(plan.arena, options, { ...plan, batch: PAGE_RUNS_LIMIT + 1 });
  try {
    const k = plan.arena.kernels;
    let total = 0;
    // Kernel counts are u32; a range holds at most MAX_BLOCKS (2^31) blocks, so one call fits.
    for (const [from, to, meta] of metaParts(plan)) {
      total += meta
        ? k.popcountMeta(space.tables, space.metas, plan.count, meta.live.table, meta.granularity, from, to, space.acc)
        : countStored(plan, space, options.bitmaps, from, to);
    }
    return total;
  } finally {
    space.free();
  }
}

/**
 * A plain count of blocks [from, to) over the pages the maps store (their second level,
 * occupancy.ts), not over every page-table entry: a page one map stores alone is that
 * page's own count (kept by the map once counted), a page several maps store whose runs
 * each map keeps (few, or up to PAGE_RUNS_LIMIT over a page mostly set) is counted from
 * those runs by popcountRuns (run-count.ts), and the rest goes to the kernel.
 */
function countStored(plan: Plan, space: ScanSpace, bitmaps: readonly PagedBitmap[], from: number, to: number): number {
  if (from >= to) return 0;
  const k = plan.arena.kernels;
  let total = 0;
  // Blocks [runFrom, runTo) wait for one kernel call; a range that does not follow on sends them.
  let runFrom = 0;
  let runTo = 0;
  const flush = () => {
    if (runTo > runFrom) total += k.popcountPlain(space.tables, plan.count, runFrom, runTo, space.acc);
  };
  const toKernel = (lo: number, hi: number) => {
    if (lo !== runTo) {
      flush();
      runFrom = lo;
    }
    runTo = hi;
  };
  // Pages [whole, wholeEnd) lie within [from, to) whole (the last one up to the maps' end).
  const whole = Math.ceil(from / PAGE_BLOCKS);
  const wholeEnd = to === bitmaps[0]!.bits ? Math.ceil(to / PAGE_BLOCKS) : Math.floor(to / PAGE_BLOCKS);
  // Made at the first page several maps store (a small delta may have none).
  let runs: RunCount | undefined;
  let runsPay: boolean | undefined;
  try {
    walkStored(bitmaps.map((map) => map.stored), Math.floor(from / PAGE_BLOCKS), Math.ceil(to / PAGE_BLOCKS), {
      shared: (page, end) => {
        // Maps whose pages mostly have many runs (scattered bits) leave it to the kernel, a run at a time.
        if (!(runsPay ??= bitmaps.every((map) => map.runsPay))) {
          toKernel(Math.max(from, page * PAGE_BLOCKS), Math.min(to, end * PAGE_BLOCKS));
          return;
        }
        for (let p = page; p < end; p++) {
          const size = Math.min(PAGE_BLOCKS, bitmaps[0]!.bits - p * PAGE_BLOCKS);
          if (p >= whole && p < wholeEnd && (runs ??= new RunCount(plan.arena, bitmaps, space)).add(p, size)) continue;
          toKernel(Math.max(from, p * PAGE_BLOCKS), Math.min(to, (p + 1) * PAGE_BLOCKS));
        }
      },
      single: (page, only) => {
        if (page >= whole && page < wholeEnd) total += bitmaps[only]!.pageCount(page, space);
        else toKernel(Math.max(from, page * PAGE_BLOCKS), Math.min(to, (page + 1) * PAGE_BLOCKS));
      },
    });
    flush();
    if (runs) total += runs.finish();
  } finally {
    runs?.free();
  }
  return total;
}

/** All extents of a delta as [start, length] pairs (convenient for small deltas and tests). */
export function deltaExtents(options: DeltaScanOptions): Array<[number, number]> {
  const extents: Array<[number, number]> = [];
  for (const batch of scanDelta({ ...options, reuse: options.reuse ?? true })) {
    for (let i = 0; i < batch.length; i += 2) extents.push([batch[i]!, batch[i + 1]!]);
  }
  return extents;
}

