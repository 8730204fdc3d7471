// The kernel-core benchmark of snapcopy: delta scans (scanDelta, countDelta) over
// K bit maps of 16M and 256M blocks, wasm and ts kernels in the same run, against
// CRoaring's orMany (+ and) on the same bits and the machine's memcmp bandwidth; and
// the checksum of delta streams and RCP frames against zlib's crc32 (bench/lib/checksum.mjs).
//
//   node bench/run.mjs [--quick]            (npm run bench [-- --quick])
//   npx deno run -A bench/run.mjs [--quick]
//
// Options: --quick (a subset in a few minutes), --sparse-only (only the 0.01 % densities, where
// sparse pages are; results as kernels-<mode>-sparse), --no-ts, --no-roaring, --no-native, --out=DIR,
// --before=FILE (an older kernels.wasm timed in the same run; bench/lib/before.mjs),
// --shapes=256Mx16,... --patterns=... --densities=... (a part of the plan).
// See bench/README.md for what is measured and what each column means.

import process from 'node:process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distModule, lib } from './lib/dist.mjs';
import { CompareBandwidth } from './lib/bandwidth.mjs';
import { loadKernelsFile } from './lib/before.mjs';
import { scanCovered, scanTaken } from './lib/scans.mjs';
import { benchNative } from './lib/native.mjs';

const { ACC_BYTES, Arena, countDelta, PAGE_BLOCKS, PAGE_BYTES, PagedBitmap } = lib;
import { benchChecksums, checksumTable } from './lib/checksum.mjs';
import {
  applyLayout, CLUSTER_GAP_MAX, CLUSTER_RUN_MAX, clusteredLayout, fillClustered, fillMeta, fillRuns, fillScattered, fullLayout, layoutStats, Pool,
  RUN_MAX, RUN_MIN, runsLayout,
  releaseMaps, scatteredLayout,
} from './lib/maps.mjs';
import { Rng } from './lib/rng.mjs';
import { loadRoaring, RoaringBuilder, roaringBytes } from './lib/roaring.mjs';
import { blocksLabel, markdown, mib, pct, sig } from './lib/table.mjs';
import { measure } from './lib/timing.mjs';

const M = 2 ** 20;
const GiB = 2 ** 30;
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const SPARSE_ONLY = args.includes('--sparse-only');
const MODE = `${QUICK ? 'quick' : 'full'}${SPARSE_ONLY ? '-sparse' : ''}`;
const IS_DENO = typeof globalThis.Deno !== 'undefined';
const RUNTIME = IS_DENO ? `deno ${globalThis.Deno.version.deno} (V8 ${globalThis.Deno.version.v8})` : `node ${process.versions.node} (V8 ${process.versions.v8})`;
const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const COMMIT = (() => {
  try {
    const git = (...a) => execFileSync('git', a, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', 'src', 'assembly') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' + uncommitted changes in src/ or assembly/' : ''}`;
  } catch {
    return 'unknown';
  }
})();
const KERNELS_SHA = await distModule('kernels/wasm/kernels-wasm.generated.js')
  .then((m) => m.KERNELS_WASM_SHA256?.slice(0, 16) ?? 'unknown', () => 'unknown');
const OUT_DIR = args.find((a) => a.startsWith('--out='))?.slice(6) ?? join(HERE, 'results');

/** Meta maps: this fraction of meta bits is clear (blocks not in use), the rest set. */
const META_UNSET = 0.01;
const SCAN_BATCH = 65536;

const PLAN = QUICK
  ? {
    // CI runs this to prove the bench runs, so it keeps the run short: 16M and 256M at K = 4,
    // the case targets (1), (2) and (4) are about (K = 1 and 16 run in the full plan).
    shapes: [[16 * M, 4], [256 * M, 4]],
    densities: [0.0001, 0.01, 0.5],
    patterns: ['scattered', 'clustered', 'runs'],
    poolPages: 32768, // 128 MiB: a 256M x K=4 scattered scan reads 128 MiB of distinct pages
    metaPoolPages: 16384, // 64 MiB
    compareHalf: 256 * M, // 2 x 256 MiB = 512 MiB
    g0: (c) => c.blocks <= 16 * M,
    // At 256M the ts twin runs for plain counts and scans at 1% (target (4)'s rows from RAM);
    // its meta-aware rows take seconds a call there.
    ts: (c, mode) => c.blocks <= 16 * M || (c.density === 0.01 && mode === 'plain'),
    tsNote: 'quick mode runs ts at 256M only for plain rows at 1%',
    budgetMs: 40,
    minIterations: 2,
    compareBudgetMs: 25,
    warmupMs: 150,
    roaringBudget: 2 * GiB,
  }
  : {
    // Three patterns now, so fewer shapes and densities than before (K = 1 and 64, 10%
    // left out) for a run that fits a working session on a shared 2-core machine:
    // 256M at K = 4 and 16 are issue 12's cases, 16M x K=4 the in-cache one.
    shapes: [[16 * M, 4], [256 * M, 4], [256 * M, 16]],
    densities: [0.0001, 0.01, 0.5],
    patterns: ['scattered', 'clustered', 'runs'],
    poolPages: 262144, // 1 GiB of distinct pages, beyond any cache of this machine
    metaPoolPages: 65536, // 256 MiB
    compareHalf: 512 * M, // 2 x 512 MiB = 1 GiB
    g0: () => true,
    // The ts twin reads at ~0.2-2 GB/s: at 256M x K=16 one call takes seconds (K=64: tens of
    // seconds), so at 256M it runs for K = 1 and 4 only.
    ts: (c) => c.blocks < 256 * M || (c.count <= 4 && c.density === 0.01),
    tsNote: 'seconds per call at 256M; the ts/wasm ratios from RAM come from 256M x K=4 at 1%',
    budgetMs: 200,
    minIterations: 3,
    compareBudgetMs: 100,
    warmupMs: 400,
    roaringBudget: 6 * GiB,
  };

if (args.includes('--no-ts')) PLAN.ts = () => false;
if (SPARSE_ONLY) PLAN.densities = [0.0001];
// A part of the plan, for a focused A/B (with --before and --out): --shapes=256Mx16,16Mx4 (any
// shapes), --patterns=clustered, --densities=0.5 (only those of the plan).
const listArg = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3).split(',');
const shapes = listArg('shapes');
// Shapes are taken as given (`--quick --shapes=16Mx1` times K = 1, which the quick plan leaves out).
if (shapes) {
  PLAN.shapes = shapes.map((shape) => {
    const match = /^(\d+)Mx(\d+)$/.exec(shape);
    if (!match) throw new Error(`--shapes: ${shape} is not <blocks in M>Mx<K>, as 256Mx16`);
    return [Number(match[1]) * M, Number(match[2])];
  });
}
const patterns = listArg('patterns');
if (patterns) PLAN.patterns = PLAN.patterns.filter((p) => patterns.includes(p));
const densities = listArg('densities')?.map(Number);
if (densities) PLAN.densities = PLAN.densities.filter((d) => densities.includes(d));
const WANT_ROARING = !args.includes('--no-roaring');

const log = (...a) => console.error(...a);
const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------------------------
// Set-up: bandwidth buffers, arenas, pools, roaring.

const loadBefore = os.loadavg();
log(`snapcopy kernel benchmark, ${MODE} mode, ${RUNTIME}, ${os.cpus()[0]?.model ?? '?'} x ${os.cpus().length}, ${sig(os.totalmem() / GiB)} GiB, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}`);
const bandwidth = new CompareBandwidth(PLAN.compareHalf);
const wholeBefore = await bandwidth.whole();
log(`[${elapsed()}] Buffer.compare of 2 x ${PLAN.compareHalf / M} MiB: ${sig(wholeBefore.gbps)} GB/s`);

const roaring = WANT_ROARING ? await loadRoaring() : { error: 'disabled with --no-roaring' };
if (roaring.error) log(`roaring skipped: ${roaring.error}`);

// --before=FILE: a third arena on the kernels of an older build (bench/lib/before.mjs), timed
// in the same run as the current ones; its results must agree with them.
const BEFORE = args.find((a) => a.startsWith('--before='))?.slice(9);
const arenas = [new Arena({ kernels: 'wasm' }), new Arena({ kernels: 'ts' })];
const LABELS = ['wasm', 'ts'];
if (BEFORE) {
  arenas.push(new Arena({ kernels: loadKernelsFile(BEFORE) }));
  LABELS.push('before');
}
if (arenas[0].backend !== 'wasm') throw new Error('the wasm kernels did not load');
const pool = new Pool(arenas, PLAN.poolPages);
const metaPool = new Pool(arenas, PLAN.metaPoolPages);
const rng = new Rng(0x5eed);
metaPool.generate((u32, word, pages) => fillMeta(u32, word, pages, META_UNSET, rng));
log(`[${elapsed()}] pools: ${PLAN.poolPages * PAGE_BYTES / M} MiB of bit map pages, ${PLAN.metaPoolPages * PAGE_BYTES / M} MiB of meta pages, in each arena`);

// ---------------------------------------------------------------------------------
// One configuration: volume x K x pattern x density, all modes and ops.

const results = [];
const skipped = [];
const errors = [];

function scanFn(options) {
  return () => scanTaken(options);
}

/** The untimed first call of a scan: extents and the blocks they cover. */
function scanCheck(options) {
  return () => scanCovered(options);
}

/**
 * The scan of scanDelta without its per-batch copies: the same kernel calls on the
 * same arena layout (src/arena/delta-scan.ts, ScanSpace), the output buffer reused,
 * so the difference to 'scan' is what scanDelta adds around the kernels.
 */
class KernelScan {
  constructor(arena, bitmaps, meta, blocks) {
    this.arena = arena;
    const count = bitmaps.length;
    const lists = Math.ceil((count * 8 + 16) / 16) * 16;
    this.bytes = ACC_BYTES + lists + SCAN_BATCH * 8;
    const base = arena.alloc(this.bytes);
    const acc = base;
    const tables = base + ACC_BYTES;
    const metas = tables + count * 4;
    const cursor = metas + count * 4;
    const out = base + ACC_BYTES + lists;
    this.base = base;
    const u32 = arena.u32;
    bitmaps.forEach((map, i) => (u32[(tables >>> 2) + i] = map.table));
    meta?.metas.forEach((map, i) => (u32[(metas >>> 2) + i] = map.table));
    const k = arena.kernels;
    const live = meta?.live.table;
    const g = meta?.granularity;
    this.run = meta
      ? () => {
        let n = 0;
        for (let at = 0; at < blocks; at = arena.u32[cursor >>> 2]) {
          n += k.scanMeta(tables, metas, count, live, g, at, blocks, out, SCAN_BATCH, cursor, acc);
        }
        return n;
      }
      : () => {
        let n = 0;
        for (let at = 0; at < blocks; at = arena.u32[cursor >>> 2]) {
          n += k.scanPlain(tables, count, at, blocks, out, SCAN_BATCH, cursor, acc);
        }
        return n;
      };
  }

  free() {
    this.arena.free(this.base, this.bytes);
  }
}

const OPS = ['scan', 'kernel', 'count'];

const MODES = [
  { key: 'plain', title: 'Plain delta scan (FIG. 34/35): OR of K bit maps', g: undefined },
  { key: 'meta3', title: 'Meta-aware delta scan (FIG. 39/40), meta maps at g = 3 (1 bit per 8 blocks)', g: 3 },
  { key: 'meta0', title: 'Meta-aware delta scan, meta maps at g = 0 (1 bit per block)', g: 0 },
];

function metaLayout(config, g) {
  const metaBits = Math.ceil(config.blocks / 2 ** g);
  const pages = Math.ceil(metaBits / PAGE_BLOCKS);
  return { bits: metaBits, pages, layout: fullLayout(config.count + 1, pages, metaPool, config.metaStart) };
}

function modeActive(config, mode) {
  return mode.key !== 'meta0' || PLAN.g0(config);
}

async function runConfig(config, layout) {
  const { blocks, count } = config;
  const stats = layoutStats(layout, pool);
  const metas = { meta3: metaLayout(config, 3), meta0: metaLayout(config, 0) };
  const rows = {};
  // Where stored pages hold few bits, countDelta and scanDelta also run over the same
  // maps as PagedBitmap keeps them with { sparse: true } (sparse pages in arena slots).
  const sparseBytes = sparsePool ? layoutSparseBytes(layout) : undefined;
  const ops = sparseBytes !== undefined ? [...OPS, ...SPARSE_OPS] : OPS;
  for (const mode of MODES) {
    if (!modeActive(config, mode)) continue;
    const metaBytes = mode.g === undefined ? 0 : (count + 1) * metas[mode.key].pages * PAGE_BYTES;
    for (const op of ops) {
      const bitmapBytes = SPARSE_OPS.includes(op) ? sparseBytes : stats.stored * PAGE_BYTES;
      rows[`${mode.key}/${op}`] = {
        volume: blocksLabel(blocks), blocks, count, pattern: config.pattern, density: config.density,
        setBits: stats.bits, actualDensity: stats.bits / (count * blocks), storedPages: stats.stored,
        touchedPages: stats.stored / (count * config.pages),
        mode: mode.key, granularity: mode.g ?? null, op,
        bytesRead: bitmapBytes + metaBytes, bitmapBytes, metaBytes,
        workingSetMiB: (bitmapBytes + metaBytes) / M,
      };
    }
  }

  const measureOpts = { budgetMs: PLAN.budgetMs, minIterations: PLAN.minIterations };
  // When a scan copied each batch out fresh (80 MB a call at 10 M extents), the median
  // of 3 calls of one scan came out 48 and 88 ms in two arenas whose kernel-only rows
  // agreed within 2 % (page faults and the GC). Timed scans now reuse one buffer
  // (bench/lib/scans.mjs); more calls for scans all the same, since they vary more.
  const scanOpts = { ...measureOpts, minIterations: Math.max(PLAN.minIterations, 7) };
  for (const [a, arena] of arenas.entries()) {
    const backend = LABELS[a];
    const bitmaps = applyLayout(arena, a, pool, layout, blocks);
    const metaMaps = {};
    for (const mode of MODES) {
      if (mode.g === undefined || !modeActive(config, mode)) continue;
      const m = metas[mode.key];
      const maps = applyLayout(arena, a, metaPool, m.layout, m.bits);
      metaMaps[mode.key] = { maps, meta: { metas: maps.slice(0, count), live: maps[count], granularity: mode.g } };
    }
    try {
      for (const mode of MODES) {
        if (!modeActive(config, mode)) continue;
        const scanRow = rows[`${mode.key}/scan`];
        const kernelRow = rows[`${mode.key}/kernel`];
        const countRow = rows[`${mode.key}/count`];
        if (backend === 'ts' && !PLAN.ts(config, mode.key)) {
          scanRow.ts = kernelRow.ts = countRow.ts = { skipped: PLAN.tsNote };
          skipped.push(`ts, ${label(config)}, ${mode.key}: ${PLAN.tsNote}`);
          continue;
        }
        const meta = metaMaps[mode.key]?.meta;
        const options = { bitmaps, meta, batch: SCAN_BATCH };
        const scan = await measure(scanFn(options), { ...scanOpts, check: scanCheck(options) });
        const direct = new KernelScan(arena, bitmaps, meta, blocks);
        let kernel;
        try {
          kernel = await measure(direct.run, measureOpts);
        } finally {
          direct.free();
        }
        const counted = await measure(() => countDelta({ bitmaps, meta }), measureOpts);
        const sparseRow = rows[`${mode.key}/sparse`];
        const sparseScanRow = rows[`${mode.key}/sparse-scan`];
        if (sparseRow) {
          const sparseMaps = pagedSparseMaps(arena, a, bitmaps);
          try {
            const sparseOptions = { bitmaps: sparseMaps, meta, batch: SCAN_BATCH };
            const m = await measure(() => countDelta(sparseOptions), measureOpts);
            const s = await measure(scanFn(sparseOptions), { ...scanOpts, check: scanCheck(sparseOptions) });
            if (m.value !== counted.value) errors.push(`${label(config)} ${mode.key}: ${backend} count over sparse pages ${m.value}, over plain pages ${counted.value}`);
            if (s.value.extents !== scan.value.extents || s.value.blocks !== scan.value.blocks) {
              errors.push(`${label(config)} ${mode.key}: ${backend} scan over sparse pages ${s.value.extents} extents / ${s.value.blocks} blocks, over plain pages ${scan.value.extents} / ${scan.value.blocks}`);
            }
            for (const [row, t] of [[sparseRow, m], [sparseScanRow, s]]) {
              row[backend] = { ms: t.ms, mean: t.mean, min: t.min, rme: t.rme, samples: t.samples, wallMs: t.wallMs, gbps: row.bytesRead / (t.ms * 1e6), gblocksps: blocks / (t.ms * 1e6) };
            }
            if (backend === 'wasm') {
              sparseRow.changed = sparseScanRow.changed = m.value;
              sparseScanRow.extents = s.value.extents;
              sparseRow.heldBytes = sparseScanRow.heldBytes = heldBytes(sparseMaps);
              sparseRow.sparsePages = sparseScanRow.sparsePages = sparseMaps.reduce((n, map) => n + map.sparsePages(), 0);
            }
          } finally {
            releaseSparseMaps(sparseMaps);
          }
        }
        const { extents, blocks: scanned } = scan.value;
        if (backend === 'wasm') {
          // What the maps would hold as PagedBitmap keeps them dense: tables and 4 KiB pages.
          scanRow.heldBytes = kernelRow.heldBytes = countRow.heldBytes = heldBytes(bitmaps);
          scanRow.extents = kernelRow.extents = countRow.extents = extents;
          scanRow.changed = kernelRow.changed = countRow.changed = counted.value;
          if (scanned !== counted.value) errors.push(`${label(config)} ${mode.key}: wasm scan covers ${scanned} blocks, count says ${counted.value}`);
        } else {
          if (extents !== scanRow.extents || scanned !== scanRow.changed) errors.push(`${label(config)} ${mode.key}: ${backend} scan gives ${extents} extents / ${scanned} blocks, wasm ${scanRow.extents} / ${scanRow.changed}`);
          if (counted.value !== countRow.changed) errors.push(`${label(config)} ${mode.key}: ${backend} count ${counted.value}, wasm ${countRow.changed}`);
        }
        if (kernel.value !== extents) errors.push(`${label(config)} ${mode.key}: ${backend} kernel calls give ${kernel.value} extents, scanDelta ${extents}`);
        for (const [row, m] of [[scanRow, scan], [kernelRow, kernel], [countRow, counted]]) {
          row[backend] = { ms: m.ms, mean: m.mean, min: m.min, rme: m.rme, samples: m.samples, wallMs: m.wallMs, gbps: row.bytesRead / (m.ms * 1e6), gblocksps: blocks / (m.ms * 1e6) };
        }
      }
      if (backend === 'wasm') {
        // Measured afresh for each configuration, right after its wasm timings.
        bandwidth.cache.clear();
        for (const row of Object.values(rows)) {
          row.memcmp = await bandwidth.over(row.bytesRead, { budgetMs: PLAN.compareBudgetMs });
        }
        if (!roaring.error) await runRoaring(config, rows, bitmaps, metaMaps.meta3?.maps);
      }
    } finally {
      releaseMaps(bitmaps);
      for (const m of Object.values(metaMaps)) releaseMaps(m.maps);
    }
  }
  for (const row of Object.values(rows)) {
    if (row.wasm && row.ts?.ms) row.tsOverWasm = row.ts.ms / row.wasm.ms;
    if (row.roaring?.ms) row.roaringOverWasm = row.roaring.ms / row.wasm.ms;
    if (row.before?.ms && row.wasm?.ms) row.beforeOverWasm = row.before.ms / row.wasm.ms;
    results.push(row);
  }
}

/** Rough native bytes roaring will hold for this configuration (plain and meta inputs). */
function roaringEstimate(config) {
  const perMap = (bits) => Math.min(config.blocks / 8, bits * 2 + (config.blocks / 65536) * 8);
  const plainBits = config.density * config.blocks;
  const metaBits = plainBits + META_UNSET * config.blocks;
  return config.count * (perMap(plainBits) + perMap(metaBits)) + config.blocks / 8;
}

async function runRoaring(config, rows, bitmaps, meta3Maps) {
  const estimate = roaringEstimate(config);
  if (estimate > PLAN.roaringBudget) {
    const reason = `needs ~${sig(estimate / GiB)} GiB of roaring bitmaps, over this run's ${PLAN.roaringBudget / GiB} GiB budget`;
    for (const row of Object.values(rows)) if (row.mode !== 'meta0') row.roaring = { skipped: reason };
    skipped.push(`roaring, ${label(config)}: ${reason}`);
    return;
  }
  const R = roaring.RoaringBitmap32;
  const builder = new RoaringBuilder(R, config.blocks, (entry) => pool.counts[(entry - pool.offsets[0]) / PAGE_BYTES]);
  const tBuild = performance.now();
  const plain = bitmaps.map((map) => builder.plain(map));
  let last;
  const dispose = () => {
    last?.dispose?.();
    last = undefined;
  };
  try {
    const union = await measure(() => {
      last = R.orMany(plain);
      return last.size;
    }, { budgetMs: PLAN.budgetMs, minIterations: PLAN.minIterations, afterEach: dispose });
    const plainRows = [rows['plain/scan'], rows['plain/count'], rows['plain/sparse'], rows['plain/sparse-scan']].filter(Boolean);
    const memory = roaringBytes(plain);
    for (const row of plainRows) row.roaring = { op: 'orMany', ms: union.ms, mean: union.mean, min: union.min, rme: union.rme, samples: union.samples, cardinality: union.value, bytes: memory };
    if (union.value !== plainRows[1].changed) errors.push(`${label(config)} plain: roaring orMany has ${union.value} bits, countDelta ${plainRows[1].changed}`);

    if (meta3Maps) {
      const count = config.count;
      const inputs = plain.map((bitmap, i) => builder.bitsOrUnused(bitmap, meta3Maps[i], 3));
      const live = builder.inUse(meta3Maps[count], 3);
      try {
        const both = await measure(() => {
          last = R.orMany(inputs);
          last.andInPlace(live);
          return last.size;
        }, { budgetMs: PLAN.budgetMs, minIterations: PLAN.minIterations, afterEach: dispose });
        const metaRows = [rows['meta3/scan'], rows['meta3/count'], rows['meta3/sparse'], rows['meta3/sparse-scan']].filter(Boolean);
        const bytes = roaringBytes(inputs) + roaringBytes([live]);
        for (const row of metaRows) row.roaring = { op: 'orMany + andInPlace', ms: both.ms, mean: both.mean, min: both.min, rme: both.rme, samples: both.samples, cardinality: both.value, bytes };
        if (both.value !== metaRows[1].changed) errors.push(`${label(config)} meta3: roaring orMany+and has ${both.value} bits, countDelta ${metaRows[1].changed}`);
      } finally {
        for (const b of [...inputs, live]) b.dispose?.();
      }
    }
  } finally {
    dispose();
    for (const b of plain) b.dispose?.();
  }
  rows['plain/scan'].roaringBuildMs = performance.now() - tBuild;
}

function label(c) {
  return `${blocksLabel(c.blocks)} x K=${c.count} ${c.pattern} ${pct(c.density)}`;
}

// ---------------------------------------------------------------------------------
// The run: one pool per pattern and density, every volume and K on it.

let metaStart = 0;
let clusterInPage;

// Sparse pages as PagedBitmap writes them: maps made with { sparse: true } whose pages
// are loaded from the pool's (PagedBitmap.loadPage, the path map files load through),
// so a page of at most SPARSE_LIMIT bits becomes a sparse page in an arena slot; a
// denser page is named as it is, shared with the pool (never freed with the map).
const { SPARSE_LIMIT } = await distModule('arena/sparse-page.js');
const SPARSE_OPS = ['sparse', 'sparse-scan'];
/** Whether the pool of the moment has pages the sparse form takes. */
let sparsePool = false;
const sparseEligible = (index) => pool.counts[index] > 0 && pool.counts[index] <= SPARSE_LIMIT;

/** Bytes a count over the sparse form of a layout reads from bit maps. */
function layoutSparseBytes(layout) {
  let bytes = 0;
  let any = false;
  for (const entries of layout) {
    for (const index of entries) {
      if (index < 0) continue;
      if (sparseEligible(index)) {
        any = true;
        bytes += 2 + 2 * pool.counts[index];
      } else bytes += PAGE_BYTES;
    }
  }
  return any ? bytes : undefined;
}

/** The maps as PagedBitmap keeps them with { sparse: true }. */
function pagedSparseMaps(arena, a, bitmaps) {
  return bitmaps.map((map) => {
    const copy = PagedBitmap.create(arena, map.bits, { sparse: true });
    for (let p = 0; p < map.pages; p++) {
      const entry = map.entry(p);
      if (entry === 0) continue;
      const index = (entry - pool.offsets[a]) / PAGE_BYTES;
      if (entry > 1 && sparseEligible(index)) copy.loadPage(p, arena.u8.subarray(entry, entry + PAGE_BYTES));
      else copy.setEntry(p, entry);
    }
    return copy;
  });
}

/** Frees maps from pagedSparseMaps: their sparse pages, not the pool pages they share. */
function releaseSparseMaps(maps) {
  for (const map of maps) {
    for (let p = 0; p < map.pages; p++) if ((map.entry(p) & 15) === 0) map.setEntry(p, 0);
    map.free();
  }
}

/** Arena bytes the maps hold (page tables, dense pages, sparse slots), as if they owned their pages. */
function heldBytes(maps) {
  return maps.reduce((n, map) => n + map.bytesHeld(), 0);
}
let warmedUp = false;

/**
 * Warm-up, once, before anything is timed: the first calls of every kernel path are
 * 3-10x slower (V8 compiles WebAssembly lazily and starts on baseline code; the ts
 * twin climbs its JIT tiers), and scanDelta's first batch copies (the checked calls
 * take the default copies) fault in fresh memory until malloc settles. Many short calls (the first 1M blocks of a 16M x K=4
 * map) of each path on both backends get past all of it.
 */
async function warmUp() {
  const tw = performance.now();
  const blocks = 16 * M;
  const count = 4;
  const layout = scatteredLayout(count, blocks / PAGE_BLOCKS, pool);
  const lines = [];
  for (const [a, arena] of arenas.entries()) {
    const bitmaps = applyLayout(arena, a, pool, layout, blocks);
    const metaSets = [3, 0].map((g) => {
      const m = metaLayout({ blocks, count, metaStart: 0 }, g);
      const maps = applyLayout(arena, a, metaPool, m.layout, m.bits);
      return { maps, meta: { metas: maps.slice(0, count), live: maps[count], granularity: g } };
    });
    try {
      for (const meta of [undefined, ...metaSets.map((m) => m.meta)]) {
        const options = { bitmaps, meta, batch: SCAN_BATCH, from: 0, to: M };
        for (const fn of [scanFn(options), () => countDelta(options)]) {
          const times = [];
          const start = performance.now();
          while (times.length < 30 || performance.now() - start < PLAN.warmupMs) {
            const t = performance.now();
            fn();
            times.push(performance.now() - t);
            if (performance.now() - start > 10 * PLAN.warmupMs) break;
          }
          lines.push(`${LABELS[a]} ${meta ? `g=${meta.granularity}` : 'plain'} ${times.length} calls ${sig(times[0])} -> ${sig(times.at(-1))} ms`);
        }
      }
    } finally {
      releaseMaps(bitmaps);
      for (const m of metaSets) releaseMaps(m.maps);
    }
  }
  log(`[${elapsed()}] warm-up in ${((performance.now() - tw) / 1000).toFixed(1)} s (first -> last call over 1M blocks): ${lines.join('; ')}`);
}
for (const pattern of PLAN.patterns) {
  for (const density of PLAN.densities) {
    const tGen = performance.now();
    const fills = { scattered: fillScattered, clustered: (u32, word, pages) => fillClustered(u32, word, pages, rng), runs: fillRuns };
    pool.generate((u32, word, pages) => fills[pattern](u32, word, pages, density, rng));
    sparsePool = pool.counts.some((c) => c > 0 && c <= SPARSE_LIMIT);
    let poolBits = 0;
    for (const c of pool.counts) poolBits += c;
    const inPage = poolBits / (pool.pages * PAGE_BLOCKS);
    if (pattern === 'clustered') clusterInPage = inPage;
    log(`[${elapsed()}] ${pattern} ${pct(density)}: pool generated in ${((performance.now() - tGen) / 1000).toFixed(1)} s (pages ${pct(inPage)} set)`);
    if (!warmedUp) {
      await warmUp();
      warmedUp = true;
    }
    for (const [blocks, count] of PLAN.shapes) {
      const pages = blocks / PAGE_BLOCKS;
      const config = { blocks, pages, count, pattern, density, metaStart };
      metaStart = (metaStart + 7919) % metaPool.pages;
      const layout = pattern === 'scattered' ? scatteredLayout(count, pages, pool)
        : pattern === 'runs' ? runsLayout(count, pages, density, pool, rng)
          : clusteredLayout(count, pages, Math.min(1, density / inPage), pool, rng);
      const tc = performance.now();
      await runConfig(config, layout);
      log(`[${elapsed()}]   ${label(config)}: ${((performance.now() - tc) / 1000).toFixed(1)} s`);
    }
  }
}

// The same loops in C, native, in this run: what the machine allows (bench/lib/native.mjs).
const native = args.includes('--no-native') ? { skipped: 'disabled with --no-native' }
  : benchNative(QUICK ? [[256 * M, 4, 0.01], [256 * M, 4, 0.01, '3v']] : [[256 * M, 4, 0.01], [256 * M, 4, 0.5], [256 * M, 16, 0.01],
    // The same counts page by page in vectorized loops: what native code gets for the exact count target.
    ...['3v', '0v', 'plainv'].flatMap((mode) => [[256 * M, 4, 0.01, mode], [256 * M, 16, 0.01, mode]])],
    { reps: QUICK ? 3 : 7, log: (line) => log(`[${elapsed()}] ${line}`) });

const checksums = await benchChecksums({ quick: QUICK, log: (line) => log(`[${elapsed()}] ${line}`) });

const wholeAfter = await bandwidth.whole();
const loadAfter = os.loadavg();
log(`[${elapsed()}] Buffer.compare again at the end: ${sig(wholeAfter.gbps)} GB/s`);

// ---------------------------------------------------------------------------------
// Targets.

const find = (f) => results.filter(f);
const pick = (blocks, count, pattern, density, mode, op) =>
  results.find((r) => r.blocks === blocks && r.count === count && r.pattern === pattern && r.density === density && r.mode === mode && r.op === op);
const verdict = (ok) => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'MISS');
const targets = [];
const BIG = 256 * M;
const SMALL = 16 * M;

// (1) Meta-aware scan (g = 3), wasm, 256M x K = 4, against memcmp over the same bytes.
for (const density of PLAN.densities) {
  for (const op of OPS) {
    const r = pick(BIG, 4, 'scattered', density, 'meta3', op);
    if (!r?.wasm) continue;
    const value = r.wasm.gbps / r.memcmp.gbps;
    targets.push({
      target: 1, primary: op === 'scan', what: `meta-aware ${op} (g=3), wasm, 256M x K=4, scattered ${pct(density)}: ${sig(r.wasm.gbps)} GB/s vs Buffer.compare ${sig(r.memcmp.gbps)} GB/s over the same ${mib(r.bytesRead)} MiB (2 x ${PLAN.compareHalf / M} MiB: ${sig(wholeBefore.gbps)} GB/s)`,
      value, need: 0.8, pass: value >= 0.8,
    });
  }
}

// (2) wasm vs ts: 256M (streaming from RAM) >= 5x, 16M (in cache) >= 10x; K = 4, scattered 1%.
for (const [blocks, need, where] of [[BIG, 5, 'streaming from RAM'], [SMALL, 10, 'in cache']]) {
  for (const mode of ['meta3', 'plain']) {
    for (const op of OPS) {
      const r = pick(blocks, 4, 'scattered', 0.01, mode, op);
      if (!r?.tsOverWasm) continue;
      targets.push({
        target: 2, primary: mode === 'meta3' && op === 'scan',
        what: `ts/wasm, ${mode} ${op}, ${blocksLabel(blocks)} x K=4, scattered 1% (${where}, ${mib(r.bytesRead)} MiB read): ts ${sig(r.ts.ms)} ms, wasm ${sig(r.wasm.ms)} ms`,
        value: r.tsOverWasm, need, pass: r.tsOverWasm >= need,
      });
    }
  }
  const all = find((r) => r.blocks === blocks && r.tsOverWasm);
  if (all.length) {
    const geo = Math.exp(all.reduce((s, r) => s + Math.log(r.tsOverWasm), 0) / all.length);
    const min = all.reduce((m, r) => (r.tsOverWasm < m.tsOverWasm ? r : m));
    targets.push({
      target: 2, primary: false, what: `ts/wasm over all ${all.length} ${blocksLabel(blocks)} rows: geometric mean (min ${sig(min.tsOverWasm)} at K=${min.count} ${min.pattern} ${pct(min.density)} ${min.mode} ${min.op})`,
      value: geo, need, pass: geo >= need,
    });
  }
}

// (3) Faster than roaring's orMany + and on the same bit maps, at every density.
for (const [mode, op, primary] of [['meta3', 'scan', true], ['meta3', 'kernel', false], ['meta3', 'count', false], ['plain', 'kernel', false], ['plain', 'count', false]]) {
  for (const density of PLAN.densities) {
    const rows = find((r) => r.mode === mode && r.op === op && r.density === density && r.roaringOverWasm);
    if (!rows.length) continue;
    const worst = rows.reduce((m, r) => (r.roaringOverWasm < m.roaringOverWasm ? r : m));
    const sorted = rows.map((r) => r.roaringOverWasm).sort((x, y) => x - y);
    const median = sorted[(sorted.length - 1) >> 1];
    const wins = sorted.filter((x) => x > 1).length;
    targets.push({
      target: 3, primary,
      what: `roaring ${mode === 'meta3' ? 'orMany + and' : 'orMany'} / wasm ${mode} ${op}, density ${pct(density)}: worst of ${rows.length} configs at ${worst.volume} x K=${worst.count} ${worst.pattern} (roaring ${sig(worst.roaring.ms)} ms, wasm ${sig(worst.wasm.ms)} ms); median ${sig(median)}×, wasm faster in ${wins}/${rows.length}`,
      value: worst.roaringOverWasm, need: 1, pass: worst.roaringOverWasm > 1,
    });
  }
}

// (4) Cost follows non-zero pages: 1% of pages touched (clustered 1%) vs every page stored.
for (const [dense, op, backend] of [...OPS.flatMap((op) => ['wasm', 'ts'].map((b) => [0.01, op, b])), [0.5, 'scan', 'wasm']]) {
  const sparse = pick(BIG, 4, 'clustered', 0.01, 'plain', op);
  const full = pick(BIG, 4, 'scattered', dense, 'plain', op);
  if (!sparse?.[backend]?.ms || !full?.[backend]?.ms) continue;
  const value = full[backend].ms / sparse[backend].ms;
  targets.push({
    target: 4, primary: backend === 'wasm' && op === 'scan' && dense === 0.01,
    what: `${backend} plain ${op}, 256M x K=4: scattered ${pct(dense)} (${pct(full.touchedPages)} of pages stored) ${sig(full[backend].ms)} ms / clustered 1% (${pct(sparse.touchedPages)} of pages) ${sig(sparse[backend].ms)} ms`,
    value, need: 20, pass: value >= 20,
  });
}

// Issue 12's kernel targets (K1-K4), judged on 256M blocks (streaming from RAM).
const worstOf = (rows, value) => rows.reduce((m, r) => (value(r) < value(m) ? r : m));
const medianOf = (xs) => xs.slice().sort((x, y) => x - y)[(xs.length - 1) >> 1];
const where = (r) => `${r.volume} x K=${r.count} ${r.pattern} ${pct(r.density)} ${r.mode}`;

// (K1) The exact count (OR, masks, granularity expansion) at 0.8 x memcmp over the same bytes.
for (const pattern of PLAN.patterns) {
  for (const mode of ['meta3', 'meta0']) {
    for (const count of [4, 16]) {
      const rows = find((r) => r.blocks === BIG && r.count === count && r.pattern === pattern && r.mode === mode && r.op === 'count' && r.wasm?.gbps && r.memcmp);
      if (!rows.length) continue;
      const ratio = (r) => r.wasm.gbps / r.memcmp.gbps;
      const worst = worstOf(rows, ratio);
      targets.push({
        target: 'K1', primary: true,
        what: `count, wasm, 256M x K=${count} ${pattern}, ${mode}: worst of ${rows.length} densities at ${pct(worst.density)} (${sig(worst.wasm.gbps)} GB/s vs memcmp ${sig(worst.memcmp.gbps)} GB/s over ${mib(worst.bytesRead)} MiB); median ${sig(medianOf(rows.map(ratio)))}×`,
        value: ratio(worst), need: 0.8, pass: ratio(worst) >= 0.8,
      });
    }
  }
}

// (K2) Scans with extents: clustered at 0.6 x memcmp; sparse scattered within 1.1 x of the count; dense <= 2 ns per extent beyond it.
for (const pattern of ['clustered', 'runs']) {
  for (const op of ['scan', 'kernel']) {
    const rows = find((r) => r.blocks === BIG && r.pattern === pattern && r.mode !== 'plain' && r.op === op && r.wasm?.gbps && r.memcmp);
    if (!rows.length) continue;
    const ratio = (r) => r.wasm.gbps / r.memcmp.gbps;
    const worst = worstOf(rows, ratio);
    targets.push({
      target: 'K2', primary: op === 'scan',
      what: `${op} with extents, wasm, 256M ${pattern}, meta modes: worst of ${rows.length} at ${where(worst)} (${sig(worst.wasm.gbps)} vs memcmp ${sig(worst.memcmp.gbps)} GB/s); median ${sig(medianOf(rows.map(ratio)))}×`,
      value: ratio(worst), need: 0.6, pass: ratio(worst) >= 0.6,
    });
  }
}
for (const count of [4, 16]) {
  for (const mode of ['meta3', 'meta0', 'plain']) {
    const counted = pick(BIG, count, 'scattered', 0.0001, mode, 'count');
    for (const op of ['scan', 'kernel']) {
      const r = pick(BIG, count, 'scattered', 0.0001, mode, op);
      if (!r?.wasm?.ms || !counted?.wasm?.ms) continue;
      const value = r.wasm.ms / counted.wasm.ms;
      targets.push({
        target: 'K2', primary: op === 'scan' && mode === 'meta3', inverse: true,
        what: `sparse: ${op} / count, wasm, 256M x K=${count} scattered 0.01%, ${mode}: ${sig(r.wasm.ms)} ms / ${sig(counted.wasm.ms)} ms (${r.extents} extents)`,
        value, need: 1.1, pass: value <= 1.1,
      });
    }
  }
}
for (const density of [0.1, 0.5, 0.01]) {
  for (const mode of ['meta3', 'plain']) {
    const counted = pick(BIG, 4, 'scattered', density, mode, 'count');
    for (const op of ['scan', 'kernel']) {
      const r = pick(BIG, 4, 'scattered', density, mode, op);
      if (!r?.wasm?.ms || !counted?.wasm?.ms || !r.extents) continue;
      const ns = ((r.wasm.ms - counted.wasm.ms) * 1e6) / r.extents;
      targets.push({
        target: 'K2', primary: op === 'scan' && mode === 'meta3' && density !== 0.01, inverse: true, unit: ' ns',
        what: `dense: ns per extent beyond the count, wasm, 256M x K=4 scattered ${pct(density)}, ${mode} ${op}: (${sig(r.wasm.ms)} - ${sig(counted.wasm.ms)} ms) / ${r.extents} extents`,
        value: ns, need: 2, pass: ns <= 2,
      });
    }
  }
}

// (K3) Faster than CRoaring orMany (+ and) for the exact count, every density and pattern.
for (const pattern of PLAN.patterns) {
  for (const mode of ['meta3', 'plain']) {
    for (const density of PLAN.densities) {
      for (const op of ['count', 'sparse']) {
      const rows = find((r) => r.pattern === pattern && r.mode === mode && r.op === op && r.density === density && r.roaringOverWasm);
      if (!rows.length) continue;
      const worst = worstOf(rows, (r) => r.roaringOverWasm);
      targets.push({
        target: 'K3', primary: mode === 'meta3' && op === 'count',
        what: `roaring ${mode === 'meta3' ? 'orMany + and' : 'orMany'} / wasm ${op === 'sparse' ? 'count over sparse pages' : 'count'}, ${pattern} ${pct(density)}: worst of ${rows.length} at ${where(worst)} (roaring ${sig(worst.roaring.ms)} ms, wasm ${sig(worst.wasm.ms)} ms); wasm faster in ${rows.filter((r) => r.roaringOverWasm > 1).length}/${rows.length}`,
        value: worst.roaringOverWasm, need: 1, pass: worst.roaringOverWasm > 1, strict: true,
      });
      }
    }
  }
}

// (K4) ts/wasm on every row: the least, per volume and op (at least 5 x from RAM, 10 x in cache).
for (const [blocks, need] of [[BIG, 5], [SMALL, 10]]) {
  for (const op of OPS) {
    const rows = find((r) => r.blocks === blocks && r.op === op && r.tsOverWasm);
    if (!rows.length) continue;
    const worst = worstOf(rows, (r) => r.tsOverWasm);
    targets.push({
      target: 'K4', primary: false,
      what: `ts/wasm, ${op}, ${blocksLabel(blocks)}: least of ${rows.length} rows at ${where(worst)}; median ${sig(medianOf(rows.map((r) => r.tsOverWasm)))}×`,
      value: worst.tsOverWasm, need, pass: worst.tsOverWasm >= need,
    });
  }
}

// (C) The checksum: at least 3 x zlib's crc32 in the same run, copy into the kernel memory included.
targets.push(...checksums.targets);

// ---------------------------------------------------------------------------------
// Output.

const now = new Date();
const header = [
  `# snapcopy kernel benchmark (${MODE})`,
  '',
  `${now.toISOString()} · commit ${COMMIT}, kernels.wasm sha256 ${KERNELS_SHA}… (dist/ as last built) · ${RUNTIME} · ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length} · ${sig(os.totalmem() / GiB)} GiB RAM · ${os.platform()} ${os.release()} · run took ${elapsed()}`,
  '',
  `Load average (1, 5, 15 min) at the start ${loadBefore.map((x) => x.toFixed(2)).join(', ')}, at the end ${loadAfter.map((x) => x.toFixed(2)).join(', ')} (on ${os.cpus().length} CPUs: anything else running skews the timings).`,
  '',
  `Read bandwidth (Buffer.compare of two identical ${PLAN.compareHalf / M} MiB buffers, both counted): ${sig(wholeBefore.gbps)} GB/s at the start, ${sig(wholeAfter.gbps)} GB/s at the end.`,
  `Pools: ${PLAN.poolPages * PAGE_BYTES / M} MiB of distinct bit map pages and ${PLAN.metaPoolPages * PAGE_BYTES / M} MiB of meta pages per arena, page tables point into them (bench/README.md).`,
  `roaring: ${roaring.error ? `skipped (${roaring.error})` : `npm roaring ${roaring.version}, CRoaring ${roaring.croaring}`}.`,
];

const targetLines = ['## Targets', '', markdown(['target', 'measured', 'need', 'result', 'what'],
  targets.map((t) => [`(${t.target})${t.primary ? ' **primary**' : ''}`, `${sig(t.value)}${t.unit ?? '×'}`, `${t.inverse ? '≤' : t.target === 3 || t.strict ? '>' : '≥'} ${t.need}${t.unit ?? '×'}`, t.primary ? `**${verdict(t.pass)}**` : verdict(t.pass), t.what]),
  ['l', 'r', 'r', 'l', 'l'])];

const cell = (x, f = sig) => (x === undefined ? '–' : f(x));
const backendMs = (b) => (b?.ms !== undefined ? sig(b.ms) : b?.skipped ? 'skip' : '–');
function modeTable(mode) {
  const rows = results.filter((r) => r.mode === mode.key);
  if (!rows.length) return [];
  const withRoaring = mode.key !== 'meta0';
  const head = ['blocks', 'K', 'pattern', 'density', 'op', 'MiB read', 'changed', 'extents',
    'wasm ms', 'wasm GB/s', 'wasm Gblk/s', 'ts ms', 'ts GB/s', 'ts Gblk/s', 'ts/wasm', 'memcmp GB/s', 'wasm/memcmp'];
  if (withRoaring) head.push('roaring ms', 'roaring/wasm');
  if (BEFORE) head.push('before ms', 'before/wasm');
  const body = rows.map((r) => {
    const line = [r.volume, String(r.count), r.pattern, `${pct(r.density)} (${pct(r.actualDensity)})`, r.op, mib(r.bytesRead),
      pct(r.changed / r.blocks), r.op === 'count' || r.op === 'sparse' ? '' : String(r.extents), backendMs(r.wasm), cell(r.wasm?.gbps), cell(r.wasm?.gblocksps),
      backendMs(r.ts), cell(r.ts?.gbps), cell(r.ts?.gblocksps), cell(r.tsOverWasm), cell(r.memcmp?.gbps), cell(r.wasm && r.memcmp ? r.wasm.gbps / r.memcmp.gbps : undefined)];
    if (withRoaring) line.push(backendMs(r.roaring), cell(r.roaringOverWasm));
    if (BEFORE) line.push(backendMs(r.before), cell(r.beforeOverWasm));
    return line;
  });
  return [`## ${mode.title}`, '', markdown(head, body), ''];
}

/** The sparse form against the dense pages and roaring, per configuration that has one. */
function sparseTable() {
  const rows = results.filter((r) => r.op === 'sparse');
  if (!rows.length) return [];
  const same = (r, op) => results.find((x) => x.blocks === r.blocks && x.count === r.count && x.pattern === r.pattern && x.density === r.density && x.mode === r.mode && x.op === op);
  const kib = (bytes) => (bytes === undefined ? '–' : sig(bytes / 1024));
  const body = rows.map((r) => {
    const count = same(r, 'count');
    const scan = same(r, 'scan');
    const sparseScan = same(r, 'sparse-scan');
    return [r.volume, String(r.count), r.pattern, pct(r.density), r.mode, `${r.sparsePages ?? '–'} / ${r.storedPages}`,
      backendMs(count?.wasm), backendMs(r.wasm), backendMs(scan?.wasm), backendMs(sparseScan?.wasm),
      backendMs(r.ts), cell(r.tsOverWasm), backendMs(r.roaring), cell(r.roaringOverWasm),
      kib(count?.heldBytes), kib(r.heldBytes), kib(r.roaring?.bytes)];
  });
  return ['## Sparse pages as PagedBitmap writes them', '',
    `Maps made with \`{ sparse: true }\`: pages of at most ${SPARSE_LIMIT} bits are sparse pages (a u16 list in a 64-512 byte arena slot), the others stay dense. Times in ms (median); held = arena bytes of the maps (page tables, pages, slots; \`PagedBitmap.bytesHeld\`), roaring = its serialized size.`, '',
    markdown(['blocks', 'K', 'pattern', 'density', 'mode', 'sparse / stored pages', 'count dense', 'count sparse', 'scan dense', 'scan sparse',
      'ts count sparse', 'ts/wasm', 'roaring', 'roaring / count sparse', 'held KiB dense', 'held KiB sparse', 'roaring KiB'], body), ''];
}

const notes = [
  '## Notes',
  '',
  `- density: target fraction of blocks set in each map (in brackets: measured over all K maps). scattered = independent random bits, so every page is stored; clustered = runs of 1-${CLUSTER_RUN_MAX} blocks with gaps of 1-${CLUSTER_GAP_MAX} (${pct(clusterInPage)} of a touched page set) in about density / ${pct(clusterInPage)} of the pages, in runs of 1-16 pages; the other pages are ZERO_PAGE sentinels.`,
  '- MiB read: bytes of stored bit map pages plus meta map bytes the kernel reads (page tables not counted); GB/s = that / median time; Gblk/s = volume blocks / median time.',
  '- changed: blocks in the delta as a fraction of the volume; extents: (start, length) pairs the scan writes (batch of 65536, consumed and dropped).',
  '- op: scan = scanDelta with reuse: true (extents, the public API: each batch copied out of the arena into one buffer, as the library\'s exports, replication and reads take them; the default, a fresh copy a batch, is timed against it by bench/lib/scan-batches-ab.mjs); kernel = the same kernel calls as scanDelta with nothing copied out; count = countDelta (popcount only, no extents); sparse / sparse-scan = countDelta / scanDelta over the same maps as PagedBitmap keeps them with { sparse: true } (pages of at most ' + SPARSE_LIMIT + ' bits as sparse pages).',
  '- ts/wasm: ts time / wasm time. memcmp GB/s: Buffer.compare over the same number of bytes in the same run; wasm/memcmp: wasm GB/s over it.',
  '- roaring: RoaringBitmap32.orMany over the same bits (plain); for g = 3, orMany over bitmap_I | ~expand(meta_I) (pre-merged, untimed) then andInPlace with expand(meta_M). Inputs are run-optimized; the result\'s cardinality is checked against countDelta. roaring/wasm > 1: wasm is faster. Roaring times are repeated in the scan, kernel and count rows of a configuration.',
  ...skipped.map((s) => `- skipped: ${s}`),
  ...(errors.length ? ['', '## ERRORS (results disagree)', '', ...errors.map((e) => `- ${e}`)] : []),
];

function nativeTable() {
  if (native.skipped) return ['## Native C (same run)', '', `skipped: ${native.skipped}`, ''];
  return ['## Native C (same run)', '',
    'bench/native/kernels.c, gcc -O3 -march=native: the meta-aware count of K scattered maps, every page stored, and extent emission from its result, as the wasm kernels do them (64 blocks a step, run starts and ends as bit masks; "ns per extent" with the emitter of the wasm kernels, four runs a step, and "loop" with one loop trip a run, the emitter they had before). Mode 3 and 0: g = 3 and 0 word by word (g = 3 with one table lookup per meta byte); 3v, 0v, plainv: page by page in loops gcc vectorizes (OR of the K pages in L1, the meta half at meta level, then popcount(B & expand(Y))); plain: no meta maps.', '',
    markdown(['mode', 'blocks', 'K', 'density', 'MiB read', 'count ms', 'count GB/s', 'memcmp GB/s', 'count/memcmp', 'extents', 'ns per extent', 'ns per extent, loop', 'load'],
      native.rows.map((r) => [r.mode, blocksLabel(r.blocks), String(r.k), pct(r.density), mib(r.bytes), sig(r.countMs), sig(r.countGBps), sig(r.memcmpGBps),
        sig(r.countGBps / r.memcmpGBps), String(r.extents), sig(r.nsPerExtent), sig(r.nsPerExtentLoop), r.load.map((x) => x.toFixed(2)).join(' ')])), ''];
}

const md = [...header, '', ...targetLines, '', ...MODES.flatMap(modeTable), ...sparseTable(), ...nativeTable(), ...checksumTable(checksums), ...notes, ''].join('\n');
console.log(md);

const json = {
  mode: MODE, date: now.toISOString(), commit: COMMIT, kernelsWasmSha256: KERNELS_SHA, runtime: RUNTIME,
  machine: { cpu: os.cpus()[0]?.model, cpus: os.cpus().length, memoryBytes: os.totalmem(), platform: `${os.platform()} ${os.release()}` },
  durationSeconds: (performance.now() - t0) / 1000,
  loadAverage: { start: loadBefore, end: loadAfter },
  bandwidth: { compareHalfBytes: PLAN.compareHalf, start: wholeBefore, end: wholeAfter },
  pools: { bitmapPages: PLAN.poolPages, metaPages: PLAN.metaPoolPages, metaUnset: META_UNSET },
  roaring: roaring.error ? { skipped: roaring.error } : { version: roaring.version, croaring: roaring.croaring },
  plan: { shapes: PLAN.shapes, densities: PLAN.densities, patterns: PLAN.patterns, scanBatch: SCAN_BATCH },
  targets, skipped, errors, results, checksums: checksums.rows, native,
};
/** JSON with numbers to 5 significant digits and one line per result row. */
function compactJson(value) {
  const round = (_, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(5)) : v);
  const field = ([k, v]) => `  ${JSON.stringify(k)}: ${Array.isArray(v) && v.length && typeof v[0] === 'object'
    ? `[\n${v.map((r) => `    ${JSON.stringify(r, round)}`).join(',\n')}\n  ]`
    : JSON.stringify(v, round)}`;
  return `{\n${Object.entries(value).map(field).join(',\n')}\n}\n`;
}

mkdirSync(OUT_DIR, { recursive: true });
const base = join(OUT_DIR, `kernels-${MODE}${IS_DENO ? '-deno' : ''}`);
for (const [ext, text] of [['json', compactJson(json)], ['md', md]]) {
  writeFileSync(`${base}.${ext}.tmp`, text);
  renameSync(`${base}.${ext}.tmp`, `${base}.${ext}`);
}
log(`[${elapsed()}] wrote ${base}.json and .md${errors.length ? `; ${errors.length} ERRORS, see the end of the table` : ''}`);
if (errors.length) process.exitCode = 1;
