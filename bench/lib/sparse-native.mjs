// The scan of a small delta over sparse pages against its count, natively: does a scan
// within 1.1 x of its count exist at all for scattered bits (0.01 %)? The maps of
// bench/lib/sparse-scan.mjs (K of 256M blocks, { sparse: true }, packed as sealed) are
// written page-major as their u16 bit lists, with countDelta's and scanDelta's results,
// for bench/native/sparse-scan.c (gcc -O3 -march=native; skipped without gcc), which
// counts and scans them several ways (its header says how: A the wasm kernels' marks,
// B insertion sort, C pairwise merge, D marks with a branch-free walk, E an AVX-512
// bitonic sort where the CPU has it) and checks every one. Round by round in one
// process, alternating: countDelta and scanDelta (its batches taken, not read, as
// bench/lib/scans.mjs scanTaken; median of `calls` calls after 3 warm-up calls), then
// the C program (best of `reps` passes a variant).
//
//   node bench/lib/sparse-native.mjs [--cases=4,16] [--rounds=5] [--calls=15] [--reps=15] [--quick] [--out=FILE] [--keep=DIR]
//
// --quick: 16M blocks and 3 rounds, to try it out (512 pages: few enough for the branch
// predictor to learn, so the native scans look up to 2 x faster than at 256M).
// The wasm scan's batches were fresh copies (u32.slice) when this was written: when their
// memory was fresh, every call faulted it in (~215 minor faults a call at K = 4, 12 us each
// on this VM: 1.2 ms became 4.4 ms); timed scans now reuse one buffer (bench/lib/scans.mjs). A fork from the timing process brought that on for good (so the C program
// runs in a helper process), and glibc giving freed memory back at times (then run with
// GLIBC_TUNABLES=glibc.malloc.trim_threshold=1073741824:glibc.malloc.mmap_threshold=1073741824).
// The table shows the faults a call, and a line the wasm times over the rounds without them.
// --keep=DIR: the input files are written to DIR (kK.bin) and kept, to run the C
// program on them by hand. No `npm run build` needed when dist/ is current
// (bench/lib/dist.mjs says where the library comes from).

import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { buildOf, lib } from './dist.mjs';
import { scanCovered, scanTaken } from './scans.mjs';
import { buildMaps } from './sparse-scan.mjs';
import { markdown, sig } from './table.mjs';

const { Arena, countDelta, PAGE_BLOCKS, ONES_PAGE } = lib;
const DENSITY = 0.0001;
const MAGIC = 0x31534e53; // "SNS1", as sparse-scan.c checks

const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const quick = process.argv.includes('--quick');
const cases = arg('cases', '4,16').split(',').map(Number);
const rounds = Number(arg('rounds', quick ? 3 : 5));
const calls = Number(arg('calls', 15));
const reps = Number(arg('reps', 15));
const outFile = arg('out');
const keep = arg('keep');
const blocks = quick ? 16 * 2 ** 20 : 256 * 2 ** 20;
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ');

/** Bit numbers of page p of `map`, ascending: its sparse list, or a dense page's bits. */
function pageBits(map, p) {
  const list = map.sparseBits(p);
  if (list) return list;
  if (map.entry(p) === ONES_PAGE) return Uint16Array.from({ length: PAGE_BLOCKS }, (_, i) => i);
  const bytes = map.pageBytes(p);
  if (!bytes) return new Uint16Array(0);
  const bits = [];
  for (let i = 0; i < bytes.length; i++) for (let b = 0; b < 8; b++) if ((bytes[i] >> b) & 1) bits.push(i * 8 + b);
  return Uint16Array.from(bits);
}

/** The C program's input: header, then per page per map: u16 n and n u16 bit numbers. Returns the form counts. */
function writeInput(file, bitmaps, want) {
  const pages = Math.ceil(blocks / PAGE_BLOCKS);
  const chunks = [];
  let bits = 0;
  let dense = 0;
  let sparse = 0;
  for (let p = 0; p < pages; p++) {
    for (const map of bitmaps) {
      const list = pageBits(map, p);
      if (map.sparseBits(p)) sparse++;
      else if (list.length) dense++;
      for (let i = 1; i < list.length; i++) {
        if (!(list[i] > list[i - 1])) throw new Error(`page ${p}: a list that does not ascend`);
      }
      chunks.push(Uint16Array.of(list.length), list);
      bits += list.length;
    }
  }
  const header = Uint32Array.of(MAGIC, pages, bitmaps.length, bits, want.count, want.extents, want.blocks, PAGE_BLOCKS);
  writeFileSync(file, Buffer.concat([header, ...chunks].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))));
  return { pages, bits, sparse, dense };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/** Median of `n` timed calls of fn after `warm` untimed ones, in ms, and the minor page faults a timed call. */
function medianMs(fn, n, warm = 3) {
  for (let i = 0; i < warm; i++) fn();
  const times = [];
  const faults0 = process.resourceUsage().minorPageFault;
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms: median(times), faults: (process.resourceUsage().minorPageFault - faults0) / n };
}

// The timing process never forks: once it had (execFileSync of the C program between
// rounds), every later wasm scan faulted its batches' copies in afresh (~215 minor faults
// a call at K = 4: 1.2 ms became 4.4 ms), with or without GLIBC_TUNABLES. So a helper
// process, forked before the maps are built, runs gcc and the C program on request.
if (process.argv.includes('--helper')) {
  process.on('message', ({ file, args }) => {
    try {
      process.send({ stdout: execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) });
    } catch (e) {
      process.send({ stdout: e.stdout ?? '', error: String(e.stderr || e.message).split('\n')[0] || 'failed' });
    }
  });
  await new Promise(() => {}); // until the parent disconnects
}

const helper = fork(fileURLToPath(import.meta.url), ['--helper'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
/** Runs `file` with `args` in the helper: { stdout, error }. */
const run = (file, args) => new Promise((resolve) => {
  const gone = (code) => resolve({ stdout: '', error: `the helper process exited (${code})` });
  helper.once('exit', gone);
  helper.once('message', (m) => {
    helper.off('exit', gone);
    resolve(m);
  });
  helper.send({ file, args });
});

async function compile(dir) {
  const exe = join(dir, 'sparse-scan');
  const source = fileURLToPath(new URL('../native/sparse-scan.c', import.meta.url));
  const r = await run('gcc', ['-O3', '-march=native', '-o', exe, source]);
  if (r.error !== undefined) {
    console.log(`native C skipped (gcc -O3 -march=native failed or gcc is missing): ${r.error}`);
    return undefined;
  }
  return exe;
}

async function runNative(exe, file) {
  const { stdout, error } = await run(exe, [file, String(reps)]);
  if (!stdout) throw new Error(`the C program failed: ${error}`);
  const r = JSON.parse(stdout);
  if (!r.exact) throw new Error(`the C program disagrees with countDelta / scanDelta: ${r.errors}`);
  return r;
}

const dir = mkdtempSync(join(os.tmpdir(), 'snapcopy-sparse-native-'));
const lines = [];
const say = (line = '') => {
  console.log(line);
  lines.push(line);
};
try {
  const exe = await compile(dir);
  const { commit } = buildOf();
  say(`# Sparse scans against their counts, wasm and native${quick ? ' (quick)' : ''}`);
  say();
  say(`${new Date().toISOString()} · commit ${commit.slice(0, 7)} · node ${process.versions.node} · ${os.cpus()[0]?.model ?? '?'} ×${os.cpus().length} · load ${loadavg()} at the start`);
  say();
  say(`${blocks / 2 ** 20}M blocks; K bit maps of scattered bits (${DENSITY * 100} %) as sparse pages, packed (as sealed), seeds as bench/lib/sparse-scan.mjs. ` +
    `wasm: countDelta and scanDelta (batches of 8192 extents, taken, not read), median of ${calls} calls after 3 warm-up calls. ` +
    `native (bench/native/sparse-scan.c, gcc -O3 -march=native, on lists laid out page-major): best of ${reps} passes over all pages; ` +
    'A marks (the wasm scheme: clear the touched accumulator words, set the bits, count the new ones; the scan walks a 512-bit summary ' +
    'of the touched words), B sorted (insertion sort of the page\'s bits), C merge (the sorted lists merged pairwise, branch-free), ' +
    'D marks with a branch-free walk (count = A\'s), E SIMD sort (AVX-512 bitonic sort of the page\'s bits in 32-lane u16 registers, ' +
    'runs by vpcompressw). Ratio: scan / count of the same code; "best": the fastest scan over the fastest count (which variants). ' +
    'Copy-out: one memcpy of all the extents (scanDelta copies its batches out of the arena; the native scans do not copy). Rounds alternate wasm and native.');
  say();
  if (!exe) say('Native C skipped: no gcc.');
  for (const k of cases) {
    const arena = new Arena({ kernels: 'wasm' });
    const t0 = performance.now();
    // The packed maps of bench/lib/sparse-scan.mjs, its seed, no meta maps.
    const { bitmaps } = buildMaps(arena, blocks, k, undefined, true, 1000 + k);
    const options = { bitmaps };
    const want = { count: countDelta(options), ...scanCovered(options) };
    if (want.blocks !== want.count) throw new Error(`K = ${k}: scanDelta covers ${want.blocks} blocks, countDelta counts ${want.count}`);
    const file = join(keep ?? dir, `k${k}.bin`);
    const form = writeInput(file, bitmaps, want);
    console.log(`K = ${k}: built in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${form.sparse} sparse pages, ${form.dense} dense, ` +
      `${form.bits} bits listed; ${want.count} changed blocks in ${want.extents} extents`);
    // V8 settles after a few hundred ms of calls (bench/lib/sparse-scan.mjs).
    for (const fn of [() => countDelta(options), () => scanTaken(options)]) {
      for (const end = performance.now() + 400; performance.now() < end;) fn();
    }
    const rows = [];
    for (let round = 1; round <= rounds; round++) {
      const load = os.loadavg()[0].toFixed(2);
      const count = medianMs(() => countDelta(options), calls);
      const scan = medianMs(() => scanTaken(options), calls);
      const native = exe ? await runNative(exe, file) : undefined;
      rows.push({ round, load, wasm: { countMs: count.ms, scanMs: scan.ms, scanFaults: scan.faults }, native });
    }
    const variants = rows[0].native ? Object.keys(rows[0].native.variants) : [];
    const header = ['round', 'load', 'wasm count ms', 'wasm scan ms', 'wasm scan: page faults a call', 'wasm ratio'];
    for (const v of variants) header.push(`${v} ${rows[0].native.variants[v].label}: count ms`, `${v}: scan ms`, `${v}: ratio`);
    if (variants.length) header.push('native best: scan / count', 'native copy-out ms');
    const cells = (r) => {
      const c = [String(r.round), r.load, sig(r.wasm.countMs), sig(r.wasm.scanMs), sig(r.wasm.scanFaults), sig(r.wasm.scanMs / r.wasm.countMs)];
      if (r.native) {
        for (const v of variants) {
          const x = r.native.variants[v];
          c.push(sig(x.countMs), sig(x.scanMs), sig(x.scanMs / x.countMs));
        }
        const fastest = (key) => variants.reduce((a, b) => (r.native.variants[b][key] < r.native.variants[a][key] ? b : a));
        const scanBy = fastest('scanMs');
        const countBy = fastest('countMs');
        c.push(`${sig(r.native.variants[scanBy].scanMs / r.native.variants[countBy].countMs)} (${scanBy}/${countBy})`, sig(r.native.copyMs));
      }
      return c;
    };
    // The median row: each column's median over the rounds (ratios: the median of each round's ratio).
    const medianRow = () => {
      const col = rows.map(cells);
      return col[0].map((_, i) => (i === 0 ? '**median**' : i === 1 ? '' : sig(median(col.map((c) => Number.parseFloat(c[i]))))));
    };
    say(`## K = ${k}: ${want.count} changed blocks, ${want.extents} extents, ${form.pages} pages (${form.sparse} sparse, ${form.dense} dense), ` +
      `${form.bits} bits listed (${(form.bits / form.pages).toFixed(1)} a page)`);
    say();
    say(markdown(header, [...rows.map(cells), medianRow()]));
    say();
    // Rounds whose scans took fresh memory for their batches' copies (page faults, ~12 us each on a VM) time that, not the scan:
    // clean, a round with faults for under a tenth of the copies' pages.
    const FAULTS_CLEAN = Math.max(2, Math.round((want.extents * 8) / 4096 / 10));
    const clean = rows.filter((r) => r.wasm.scanFaults < FAULTS_CLEAN);
    say(clean.length
      ? `wasm over the ${clean.length} of ${rows.length} rounds whose scans took under ${FAULTS_CLEAN} page faults a call: ` +
        `count ${sig(median(clean.map((r) => r.wasm.countMs)))} ms, scan ${sig(median(clean.map((r) => r.wasm.scanMs)))} ms, ` +
        `ratio ${sig(median(clean.map((r) => r.wasm.scanMs / r.wasm.countMs)))}.`
      : `wasm: every round's scans took ${FAULTS_CLEAN} or more page faults a call (fresh memory for the batches' copies); see the header of bench/lib/sparse-native.mjs.`);
    say();
    for (const map of bitmaps) map.free();
  }
  say(`load ${loadavg()} at the end`);
  if (outFile) {
    writeFileSync(outFile, `${lines.join('\n')}\n`);
    console.log(`wrote ${outFile}`);
  }
} finally {
  helper.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
