// The exact size of a delta (countDelta with meta maps, FIG. 40) on a volume in use
// throughout, or nearly so: the shape of a real delta, where bench/run.mjs gives every
// meta page granules out of use. K checkpoints' bit maps hold runs of 16..1024 changed
// blocks at random places (density d), kept as PagedBitmap keeps them ({ sparse: true });
// the K + 1 meta maps (g = 3) are all in use, or all but one meta page in 64 (each with
// 1 % of its granules out of use). Timed: wasm and ts, an older build in the same
// process (--before=DIR, a dist/ directory), and CRoaring's orMany + and over the same
// bits (its inputs run-optimized first, not timed); and scanDelta of the same delta
// (wasm and the build before). Each in two rounds taking turns,
// the lower median kept.
//
//   npm run build && node bench/lib/count-in-use.mjs [--quick] [--before=/path/to/dist]

import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import process from 'node:process';
import { buildOf, lib } from './dist.mjs';
import { loadRoaring } from './roaring.mjs';
import { Rng } from './rng.mjs';
import { measure } from './timing.mjs';

const M = 2 ** 20;
const G = 3;
const RUN_MIN = 16;
const RUN_MAX = 1024;

/** Runs of RUN_MIN..RUN_MAX blocks at random places until about `density` of `blocks` is covered. */
function randomRuns(rng, blocks, density) {
  const runs = [];
  for (let covered = 0; covered < density * blocks;) {
    const length = RUN_MIN + rng.int(RUN_MAX - RUN_MIN + 1);
    const at = rng.int(blocks - length);
    runs.push([at, at + length]);
    covered += length;
  }
  return runs;
}

/** The meta-page numbers (one in 64) that hold granules out of use, and those granules, in a meta map of metaBits bits. */
function holes(rng, metaBits, mixed) {
  if (!mixed) return [];
  const pageBits = lib.PAGE_BLOCKS;
  const out = [];
  for (let page = rng.int(64); page * pageBits < metaBits; page += 64) {
    const end = Math.min(metaBits, (page + 1) * pageBits);
    for (let n = Math.ceil((end - page * pageBits) / 100); n > 0; n--) out.push(page * pageBits + rng.int(end - page * pageBits));
  }
  return out;
}

/** The delta's maps in one build's arena, built the same way from the same runs and holes. */
function mapsIn(build, backend, shape) {
  const arena = new build.Arena({ kernels: backend });
  const bitmaps = shape.runs.map((runs) => {
    const map = build.PagedBitmap.create(arena, shape.blocks, { sparse: true });
    for (const [from, to] of runs) map.setRange(from, to);
    return map;
  });
  const metas = shape.holes.map((clear) => {
    const map = build.PagedBitmap.create(arena, shape.metaBits);
    map.setRange(0, shape.metaBits);
    for (const bit of clear) map.clear(bit);
    return map;
  });
  const meta = { metas: metas.slice(0, -1), live: metas[metas.length - 1], granularity: G };
  return { options: { bitmaps, meta }, free: () => [...bitmaps, ...metas].forEach((map) => map.free()) };
}

/** Roaring's maps of the same bits: bitmap_I | ~meta_I (pre-merged) and M's blocks in use. */
function roaringOf(R, shape) {
  const unused = (clear) => {
    const r = new R();
    for (const bit of clear) r.addRange(bit * 2 ** G, Math.min(shape.blocks, (bit + 1) * 2 ** G));
    return r;
  };
  const inputs = shape.runs.map((runs, i) => {
    const r = unused(shape.holes[i]);
    for (const [from, to] of runs) r.addRange(from, to);
    r.runOptimize();
    return r;
  });
  const live = new R();
  live.addRange(0, shape.blocks);
  live.andNotInPlace(unused(shape.holes[shape.holes.length - 1]));
  live.runOptimize();
  return () => {
    const union = R.orMany(inputs);
    union.andInPlace(live);
    return union.size;
  };
}

async function main() {
  const quick = process.argv.includes('--quick');
  const beforeDir = process.argv.find((a) => a.startsWith('--before='))?.slice(9);
  const before = beforeDir ? await import(pathToFileURL(`${resolve(beforeDir)}/index.js`).href) : undefined;
  const roaring = await loadRoaring();
  const rng = new Rng(0x1234);
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ');
  const loadStart = load();
  const shapes = quick ? [[16 * M, 4], [256 * M, 4]] : [[16 * M, 4], [256 * M, 4], [256 * M, 16]];
  const rows = [];
  for (const [blocks, K] of shapes) {
    for (const density of [0.0001, 0.01]) {
      for (const mixed of [false, true]) {
        const metaBits = Math.ceil(blocks / 2 ** G);
        const shape = {
          blocks, metaBits,
          runs: Array.from({ length: K }, () => randomRuns(rng, blocks, density)),
          holes: Array.from({ length: K + 1 }, () => holes(rng, metaBits, mixed)),
        };
        const row = { blocks, K, density, mixed };
        // Each timed in two rounds, the builds taking turns, and the lower median kept: a
        // few microseconds a call are easily doubled by a GC or a neighbour's burst.
        const builds = [['wasm', lib, 'wasm'], ['ts', lib, 'ts'], ...(before ? [['before', before, 'wasm']] : [])]
          .map(([key, build, backend]) => ({ key, build, ...mapsIn(build, backend, shape) }));
        const timed = builds.map(({ key, build, options, free }) => ({ key, options, free, count: build.countDelta }));
        // The scan of the same delta (extents, as an export plans them), wasm and the build before.
        for (const { key, build, options } of builds.filter((b) => b.key !== 'ts')) {
          timed.push({ key: `${key}Scan`, options, free: () => {}, count: (o) => scanExtents(build, o) });
        }
        const count = roaring.error ? undefined : roaringOf(roaring.RoaringBitmap32, shape);
        if (count) timed.push({ key: 'roaring', options: undefined, free: () => {}, count });
        try {
          for (let round = 0; round < 2; round++) {
            for (const { key, options, count: fn } of timed) {
              const m = await measure(() => fn(options), { budgetMs: quick ? 100 : 300, minIterations: 3 });
              if (!row[key] || m.ms < row[key].ms) row[key] = { ms: m.ms, value: m.value };
            }
          }
        } finally {
          for (const { free } of timed) free();
        }
        if (row.beforeScan && row.beforeScan.value !== row.wasmScan.value) throw new Error(`scans differ: ${row.beforeScan.value} and ${row.wasmScan.value} extents`);
        for (const key of ['ts', 'before', 'roaring']) {
          if (row[key] && row[key].value !== row.wasm.value) throw new Error(`${key} counts ${row[key].value}, wasm ${row.wasm.value}`);
        }
        rows.push(row);
        console.error(`count-in-use: ${blocks / M}M K=${K} ${density * 100}% ${mixed ? 'mixed' : 'in use'}: wasm ${row.wasm.ms.toFixed(4)} ms`);
      }
    }
  }
  const out = quick ? 'kernels-count-in-use-quick.md' : 'kernels-count-in-use.md';
  writeFileSync(new URL(`../results/${out}`, import.meta.url), report(rows, { quick, loadStart, loadEnd: load(), beforeDir, roaring }));
  console.error(`count-in-use: wrote bench/results/${out}`);
}

/** Extents of the delta, through the public scan (batches of 64 Ki extents). */
function scanExtents(build, options) {
  let n = 0;
  for (const batch of build.scanDelta({ ...options, batch: 65536 })) n += batch.length / 2;
  return n;
}

function report(rows, { quick, loadStart, loadEnd, beforeDir, roaring }) {
  const f = (ms) => (ms === undefined ? '–' : ms < 0.01 ? `${(ms * 1000).toFixed(2)} µs` : `${ms.toFixed(3)} ms`);
  const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '–');
  const { commit } = buildOf();
  return [
    `# Exact delta size on a volume in use throughout${quick ? ' (quick)' : ''}`, '',
    `${new Date().toISOString()} · commit ${commit.slice(0, 7)} · node ${process.versions.node} · load ${loadStart} at the start, ${loadEnd} at the end`,
    beforeDir ? `before: the build in ${beforeDir} (commit ${tryRead(`${beforeDir}/../COMMIT`)}), timed in the same process.` : '',
    roaring.error ? `roaring: not loaded (${roaring.error})` : `roaring: npm roaring ${roaring.version}, CRoaring ${roaring.croaring}.`, '',
    'countDelta with meta maps at g = 3 (FIG. 40): K bit maps of runs of 16..1024 blocks at random places, kept as checkpoints keep them ({ sparse: true }); meta maps all in use ("in use"), or one meta page in 64 with 1 % of its granules out of use ("mixed"). Median times, the lower of two rounds in which the builds take turns; roaring = orMany over bitmap_I | ~meta_I (pre-merged, run-optimized, untimed) then andInPlace with M\'s blocks in use; roaring/wasm > 1: wasm is faster. scan: scanDelta of the same delta (its extents, batches of 64 Ki), wasm and the build before.', '',
    '| blocks | K | density | meta | changed | wasm | ts | ts/wasm | before | before/wasm | roaring | roaring/wasm | extents | scan | scan before | before/scan |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.blocks / M}M | ${r.K} | ${(r.density * 100).toFixed(2)} % | ${r.mixed ? 'mixed' : 'in use'} | ${r.wasm.value} | ${f(r.wasm.ms)} | ${f(r.ts?.ms)} | ${ratio(r.ts?.ms, r.wasm.ms)} | ${f(r.before?.ms)} | ${ratio(r.before?.ms, r.wasm.ms)} | ${f(r.roaring?.ms)} | ${ratio(r.roaring?.ms, r.wasm.ms)} | ${r.wasmScan.value} | ${f(r.wasmScan.ms)} | ${f(r.beforeScan?.ms)} | ${ratio(r.beforeScan?.ms, r.wasmScan.ms)} |`),
    '',
  ].join('\n');
}

function tryRead(path) {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '?';
  }
}

await main();
