// The extent walk alone: what a scan costs beyond the count of the same bits, per word
// and per extent, over one bit map of 256 distinct pages (8M blocks, 1 MiB: in cache,
// and too many for the branch predictor to learn) of random holes (every bit set but a
// fraction, as the union of many checkpoints with blocks out of use looks) or of random
// bits. Timed: scanPlain minus popcountPlain of the same map, for the wasm kernels, an
// older kernels.wasm in the same run (--before=FILE) and the TS twin; against the same
// walk in C compiled natively over pages of the same kind (bench/native/extent-walk.c,
// with the wasm kernels' emitter and with one loop trip a run; skipped without gcc).
//
//   npm run build && node bench/lib/extent-walk.mjs [--before=FILE] [--quick] [--cases=holes:0.016,bits:0.3]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { loadKernelsFile } from './before.mjs';
import { buildOf, lib } from './dist.mjs';
import { PAGE_WORDS, Pool, applyLayout, fillScattered, fullLayout } from './maps.mjs';
import { Rng } from './rng.mjs';
import { markdown, sig } from './table.mjs';
import { measure } from './timing.mjs';

const { Arena, ACC_BYTES, PAGE_BLOCKS } = lib;
const PAGES = 256;
const WORDS = PAGES * (PAGE_BLOCKS / 64);
const CASES = [
  ['holes', 0.001], ['holes', 0.012], ['holes', 0.05],
  ['bits', 0.01], ['bits', 0.04], ['bits', 0.3],
];

/** Random bits at `rate`, or their complement (holes at `rate`); popcount per page. */
function fill(kind, rate, rng) {
  return (u32, word0, pages) => {
    const counts = fillScattered(u32, word0, pages, rate, rng);
    if (kind === 'bits') return counts;
    for (let i = word0; i < word0 + pages * PAGE_WORDS; i++) u32[i] = ~u32[i];
    return counts.map((c) => PAGE_BLOCKS - c);
  };
}

/** The scan and the count of one map on one arena's kernels, through the kernels themselves. */
function kernelCalls(arena, map, extents) {
  const k = arena.kernels;
  const lists = arena.alloc(16);
  const acc = arena.alloc(ACC_BYTES);
  const capacity = extents + 64;
  const out = arena.alloc(capacity * 8);
  arena.u32[lists >>> 2] = map.table;
  const cursor = lists + 8;
  const blocks = map.bits;
  return {
    scan: () => k.scanPlain(lists, 1, 0, blocks, out, capacity, cursor, acc),
    count: () => k.popcountPlain(lists, 1, 0, blocks, acc),
  };
}

function nativeWalk(cases, reps, log) {
  const source = join(dirname(fileURLToPath(import.meta.url)), '..', 'native', 'extent-walk.c');
  const dir = mkdtempSync(join(os.tmpdir(), 'snapcopy-walk-'));
  try {
    const exe = join(dir, 'extent-walk');
    try {
      execFileSync('gcc', ['-O3', '-march=native', '-o', exe, source], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      log(`native C skipped: ${String(e.message).split('\n')[0]}`);
      return new Map();
    }
    const rows = new Map();
    for (const [kind, rate] of cases) {
      const r = JSON.parse(execFileSync(exe, [String(PAGES), String(rate), kind, String(reps)], { encoding: 'utf8' }));
      if (r.mismatches) throw new Error(`native emitters disagree on ${kind} ${rate}`);
      rows.set(`${kind} ${rate}`, r);
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchExtentWalk({ quick = false, before, cases: only, log = console.error } = {}) {
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ');
  const loadStart = load();
  const builds = [['wasm', new Arena({ kernels: 'wasm' })], ['ts', new Arena({ kernels: 'ts' })]];
  if (before) builds.splice(1, 0, ['before', new Arena({ kernels: loadKernelsFile(before) })]);
  const cases = only ?? (quick ? CASES.filter(([, rate]) => rate === 0.012 || rate === 0.04) : CASES);
  const budgetMs = quick ? 150 : 600;
  const rows = [];
  for (const [kind, rate] of cases) {
    const pool = new Pool(builds.map(([, arena]) => arena), PAGES);
    pool.generate(fill(kind, rate, new Rng(PAGES + rate * 1e6)));
    const row = { kind, rate };
    for (const [label, arena] of builds) {
      const index = builds.findIndex(([l]) => l === label);
      const [map] = applyLayout(arena, index, pool, fullLayout(1, PAGES, pool), PAGES * PAGE_BLOCKS);
      const expected = pool.counts.reduce((a, b) => a + b, 0);
      const extentsBound = kind === 'bits' ? expected : WORDS * 64 - expected;
      const calls = kernelCalls(arena, map, extentsBound + 1);
      const count = await measure(calls.count, { budgetMs, check: () => {
        const n = calls.count();
        if (n !== expected) throw new Error(`${label}: count ${n}, expected ${expected}`);
        return n;
      } });
      const scan = await measure(calls.scan, { budgetMs });
      if (row.extents !== undefined && row.extents !== scan.value) throw new Error(`${label}: ${scan.value} extents, ${row.extents} before`);
      row.extents = scan.value;
      row[label] = { countMs: count.ms, scanMs: scan.ms, walkMs: Math.max(0, scan.ms - count.ms) };
      log(`  ${kind} ${rate}: ${label} count ${sig(count.ms)} ms, scan ${sig(scan.ms)} ms, ${scan.value} extents`);
    }
    rows.push(row);
  }
  const native = nativeWalk(cases, quick ? 5 : 15, log);
  for (const row of rows) row.native = native.get(`${row.kind} ${row.rate}`);
  return { rows, loadStart, loadEnd: load(), labels: builds.map(([l]) => l), before };
}

function report({ rows, loadStart, loadEnd, labels, before }, quick) {
  const perWord = (ms) => sig((ms * 1e6) / WORDS);
  const perExtent = (ms, n) => (n ? sig((ms * 1e6) / n) : '–');
  const header = ['pages of', 'extents (a word)'];
  for (const l of labels) header.push(`${l}: count / scan ms`, `${l}: walk ns a word (an extent)`);
  header.push('native C: ns a word (an extent), wasm emitter / a loop trip a run');
  const body = rows.map((r) => {
    const cells = [`${r.kind} ${r.rate * 100} %`, `${r.extents} (${sig(r.extents / WORDS)})`];
    for (const l of labels) {
      const b = r[l];
      cells.push(`${sig(b.countMs)} / ${sig(b.scanMs)}`, `${perWord(b.walkMs)} (${perExtent(b.walkMs, r.extents)})`);
    }
    const n = r.native;
    cells.push(n ? `${perWord(n.pairsMs)} (${perExtent(n.pairsMs, n.extents)}) / ${perWord(n.loopsMs)} (${perExtent(n.loopsMs, n.extents)})` : 'skipped');
    return cells;
  });
  const { commit } = buildOf();
  return [
    `# Extent walk${quick ? ' (quick)' : ''}`, '',
    `${new Date().toISOString()} · commit ${commit.slice(0, 7)} · node ${process.versions.node} · load ${loadStart} at the start, ${loadEnd} at the end`,
    ...(before ? [`before: ${before}`] : []), '',
    `One bit map of ${PAGES} distinct pages (${PAGES * PAGE_BLOCKS / 2 ** 20}M blocks); the walk is scanPlain's median minus popcountPlain's over the same map ` +
    '(ts: the TS twin); native C walks a map of the same kind and size with the emitters of bench/native/kernels.c.', '',
    markdown(header, body), '',
  ].join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const quick = process.argv.includes('--quick');
  const before = process.argv.find((a) => a.startsWith('--before='))?.slice(9);
  const cases = process.argv.find((a) => a.startsWith('--cases='))?.slice(8).split(',').map((c) => {
    const [kind, rate] = c.split(':');
    if ((kind !== 'holes' && kind !== 'bits') || !(Number(rate) > 0 && Number(rate) < 1)) throw new Error(`--cases: not kind:rate (holes or bits, 0 < rate < 1): ${c}`);
    return [kind, Number(rate)];
  });
  const result = await benchExtentWalk({ quick, before, cases, log: console.log });
  const file = new URL(`../results/kernels-extent-walk${quick ? '-quick' : ''}.md`, import.meta.url);
  writeFileSync(file, report(result, quick));
  console.log(`wrote ${fileURLToPath(file)}`);
}
