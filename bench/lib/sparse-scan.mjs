// The scan of a small delta over sparse pages against its count: K bit maps of
// scattered bits (0.01 %) kept as PagedBitmap keeps checkpoint maps ({ sparse: true }),
// plain and meta-aware at g = 3 with the meta maps in use but for a fraction of their
// granules (0.01, 0.1 and 1 %: every meta page mixed, so the meta-aware kernels run
// everywhere). countDelta and scanDelta through the public API, the builds alternating
// round by round in one process (wasm and an older kernels.wasm with --before=FILE; the
// TS twin after them), since this machine's speed drifts by more than the changes measured here:
// "before/wasm" is the median over rounds of each round's ratio.
//
//   npm run build && node bench/lib/sparse-scan.mjs [--before=FILE] [--quick]

import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { loadKernelsFile } from './before.mjs';
import { buildOf, lib } from './dist.mjs';
import { Rng } from './rng.mjs';
import { scanCovered, scanTaken } from './scans.mjs';
import { markdown, sig } from './table.mjs';

const { Arena, PagedBitmap, countDelta } = lib;
const DENSITY = 0.0001;
const G = 3;
// packed: the maps' sparse slots moved to page order, as a checkpoint's are when it is
// sealed or staged (PagedBitmap.packSparse); the others keep them as the random writes
// placed them, as the tail checkpoint's are.
const CASES = [
  { k: 4, unused: undefined }, { k: 16, unused: undefined },
  { k: 4, unused: undefined, packed: true }, { k: 16, unused: undefined, packed: true },
  { k: 4, unused: 0.0001 }, { k: 4, unused: 0.001 }, { k: 4, unused: 0.01 },
];

/** K sparse maps of `blocks` with scattered bits, and meta maps with `unused` of their granules out of use. */
export function buildMaps(arena, blocks, k, unused, packed, seed) {
  const rng = new Rng(seed);
  const pick = (n) => (rng.nextInt() >>> 0) % n;
  const bitmaps = Array.from({ length: k }, () => {
    const map = PagedBitmap.create(arena, blocks, { sparse: true });
    for (let i = 0; i < blocks * DENSITY; i++) map.set(pick(blocks));
    if (packed) map.packSparse();
    return map;
  });
  if (unused === undefined) return { bitmaps };
  const granules = Math.ceil(blocks / 2 ** G);
  const metaMap = () => {
    const map = PagedBitmap.create(arena, granules);
    map.setRange(0, granules);
    for (let i = 0; i < granules * unused; i++) map.clear(pick(granules));
    return map;
  };
  return { bitmaps, meta: { metas: bitmaps.map(metaMap), live: metaMap(), granularity: G } };
}

function freeMaps({ bitmaps, meta }) {
  for (const map of [...bitmaps, ...(meta ? [...meta.metas, meta.live] : [])]) map.free();
}

/** Median of `n` timed calls of fn, in ms. */
function medianMs(fn, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

export async function benchSparseScan({ quick = false, before, log = console.error } = {}) {
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ');
  const loadStart = load();
  const blocks = quick ? 16 * 2 ** 20 : 256 * 2 ** 20;
  const builds = [['wasm', new Arena({ kernels: 'wasm' })], ['ts', new Arena({ kernels: 'ts' })]];
  if (before) builds.splice(1, 0, ['before', new Arena({ kernels: loadKernelsFile(before) })]);
  const rounds = quick ? 5 : 15;
  const rows = [];
  for (const c of CASES) {
    const maps = builds.map(([, arena]) => buildMaps(arena, blocks, c.k, c.unused, c.packed, 1000 + c.k));
    // The library's default batch (8192 extents, 64 KiB copies): with 65536 the copies
    // (512 KiB each) came from fresh memory or not, by the allocator's whim, and one
    // build's scan took 1.6 or 3.5 ms by round at K = 4.
    const options = maps;
    // Every build finds the same delta, or the row is not written.
    const want = { count: countDelta(options[0]), ...scanCovered(options[0]) };
    for (const [i, [label]] of builds.entries()) {
      const got = { count: countDelta(options[i]), ...scanCovered(options[i]) };
      if (got.count !== want.count || got.extents !== want.extents || got.blocks !== want.count) {
        throw new Error(`${label}: count ${got.count}, ${got.extents} extents of ${got.blocks} blocks; wasm: ${want.count}, ${want.extents}`);
      }
    }
    // Warm-up first: V8 takes a few hundred ms of calls to settle (a 16M-block scan ran
    // 0.2 ms a call for its first 2000 calls and 0.065 ms after).
    for (const opts of options) for (const fn of [() => countDelta(opts), () => scanTaken(opts)]) {
      for (const end = performance.now() + (quick ? 150 : 400); performance.now() < end;) fn();
    }
    // Calls per round: about 50 ms of warm wasm scans. Each build is warmed up again
    // in every round, since the others' runs in between leave its caches cold.
    const calls = Math.max(3, Math.min(500, Math.round(50 / Math.max(0.005, medianMs(() => scanTaken(options[0]), 5)))));
    // The wasm builds alternate; the TS twin runs after them, since the garbage of
    // its runs made the GC pause in the timings of whichever build came next.
    const times = builds.map(() => ({ count: [], scan: [] }));
    const timeRound = (i, n) => {
      medianMs(() => countDelta(options[i]), 3);
      times[i].count.push(medianMs(() => countDelta(options[i]), n));
      medianMs(() => scanTaken(options[i]), 3);
      times[i].scan.push(medianMs(() => scanTaken(options[i]), n));
    };
    const ts = builds.findIndex(([label]) => label === 'ts');
    for (let round = 0; round < rounds; round++) {
      for (const i of builds.keys()) if (i !== ts) timeRound(i, calls);
    }
    for (let round = 0; round < 3; round++) timeRound(ts, Math.max(3, calls >> 3));
    const row = { ...c, changed: want.count, extents: want.extents };
    for (const [i, [label]] of builds.entries()) {
      row[label] = { countMs: median(times[i].count), scanMs: median(times[i].scan) };
    }
    if (before) {
      const b = times[1], w = times[0];
      row.beforeOverWasm = {
        count: median(w.count.map((ms, r) => b.count[r] / ms)),
        scan: median(w.scan.map((ms, r) => b.scan[r] / ms)),
      };
    }
    log(`  K = ${c.k}, ${c.unused === undefined ? 'plain' : `g = 3, ${c.unused * 100} % out of use`}${c.packed ? ', packed' : ''}: ` +
      builds.map(([label]) => `${label} count ${sig(row[label].countMs)} ms, scan ${sig(row[label].scanMs)} ms`).join('; ') +
      `; ${row.extents} extents`);
    rows.push(row);
    for (const m of maps) freeMaps(m);
  }
  return { rows, blocks, loadStart, loadEnd: load(), labels: builds.map(([l]) => l), before };
}

function report({ rows, blocks, loadStart, loadEnd, labels, before }, quick) {
  const header = ['maps', 'meta', 'slots', 'changed blocks', 'extents'];
  for (const l of labels) header.push(`${l}: count / scan ms`, `${l}: scan / count`);
  if (before) header.push('before/wasm: count', 'before/wasm: scan');
  header.push('ts/wasm: scan');
  const body = rows.map((r) => {
    const cells = [`K = ${r.k}`, r.unused === undefined ? 'none' : `g = 3, ${r.unused * 100} % out of use`,
      r.packed ? 'packed (as sealed)' : 'as written', String(r.changed), String(r.extents)];
    for (const l of labels) cells.push(`${sig(r[l].countMs)} / ${sig(r[l].scanMs)}`, sig(r[l].scanMs / r[l].countMs));
    if (before) cells.push(sig(r.beforeOverWasm.count), sig(r.beforeOverWasm.scan));
    cells.push(sig(r.ts.scanMs / r.wasm.scanMs));
    return cells;
  });
  const { commit } = buildOf();
  return [
    `# Sparse scans against their counts${quick ? ' (quick)' : ''}`, '',
    `${new Date().toISOString()} · commit ${commit.slice(0, 7)} · node ${process.versions.node} · load ${loadStart} at the start, ${loadEnd} at the end`,
    ...(before ? [`before: ${before}`] : []), '',
    `${blocks / 2 ** 20}M blocks; K bit maps of scattered bits (${DENSITY * 100} %) as sparse pages; countDelta and scanDelta ` +
    '(batches of 8192 extents, the default, copied out into one reused buffer: bench/lib/scans.mjs) through the public API; medians over rounds in which the builds alternate.', '',
    markdown(header, body), '',
  ].join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const quick = process.argv.includes('--quick');
  const before = process.argv.find((a) => a.startsWith('--before='))?.slice(9);
  const result = await benchSparseScan({ quick, before, log: console.log });
  const file = new URL(`../results/kernels-sparse-scan${quick ? '-quick' : ''}.md`, import.meta.url);
  writeFileSync(file, report(result, quick));
  console.log(`wrote ${fileURLToPath(file)}`);
}
