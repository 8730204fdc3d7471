// The floor under the count target, shape by shape: the kernel bench's maps (bench/lib/
// maps.mjs, laid out as bench/run.mjs lays them, 256M blocks), counted by countDelta
// (wasm) against Buffer.compare over the bytes they store, and the same layout read by
// bench/native/read-floor.c: every byte the count reads, where it lies, OR'd and counted
// natively, built twice (AVX-512; and x86-64-v2, 16-byte vectors as V8 runs WebAssembly
// SIMD128), against C's memcmp over as many bytes (same process). Those loops do less
// than any exact count (no masks, no granule expansion), so where a floor stays under
// 0.8 x memcmp the count target is out of reach on that layout for code of that kind
// here; where it is over, there is room. Each side's ratio is taken within its own
// process; rows run one after another (wasm, then native).
//
//   node bench/lib/read-floor.mjs [--blocks=256] [--k=4,16] [--patterns=scattered,clustered,runs]
//     [--densities=0.0001,0.01,0.5] [--modes=plain,3,0] [--reps=9] [--out=bench/results/read-floor.md]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import os from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { lib } from './dist.mjs';
import { compileBenchWasm } from './asc.mjs';
import { loadKernelsFile } from './before.mjs';
import { applyLayout, fillMeta, fillPool, fullLayout, patternLayout, Pool, releaseMaps } from './maps.mjs';
import { Rng } from './rng.mjs';
import { markdown } from './table.mjs';
import { medianAfterWarmup } from './timing.mjs';

const { Arena, countDelta, PAGE_BLOCKS, PAGE_BYTES } = lib;
const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE = join(HERE, '..', 'native', 'read-floor.c');
const META_UNSET = 0.01; // as bench/run.mjs
const MAGIC = 0x31464c52;

const arg = (name, fallback) => process.argv.slice(2).find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const BLOCKS = Number(arg('blocks', 256)) * 2 ** 20;
const KS = arg('k', '4,16').split(',').map(Number);
const PATTERNS = arg('patterns', 'scattered,clustered,runs').split(',');
const DENSITIES = arg('densities', '0.0001,0.01,0.5').split(',').map(Number);
const MODES = arg('modes', 'plain,3,0').split(',');
const REPS = Number(arg('reps', 9));
const OUT = arg('out');
const PAGES = BLOCKS / PAGE_BLOCKS;
const MAX_K = Math.max(...KS);

// This build's kernels with their memory in hand, so the wasm floor reads the same arena.
const KERNELS = join(HERE, '..', '..', 'build', 'kernels.wasm');
const FLOOR_MODULE = new WebAssembly.Module(compileBenchWasm('read-floor'));

const dir = mkdtempSync(join(os.tmpdir(), 'snapcopy-floor-'));
// Two builds of the C floor: AVX-512 (64-byte vectors, vpopcntq) and x86-64-v2 (16-byte
// vectors and popcnt on each half: what V8 makes of WebAssembly SIMD128 here).
const BUILDS = { avx512: '-march=native', sse: '-march=x86-64-v2' };
const exes = {};
for (const [name, march] of Object.entries(BUILDS)) {
  exes[name] = join(dir, `read-floor-${name}`);
  execFileSync('gcc', ['-O3', march, '-o', exes[name], SOURCE], { stdio: ['ignore', 'ignore', 'inherit'] });
}

const rows = [];
try {
  for (const pattern of PATTERNS) for (const density of DENSITIES) runPattern(pattern, density);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
report();

/** One pool of bit map pages per pattern and density, shared by every K and mode. */
function runPattern(pattern, density) {
  const kernels = loadKernelsFile(KERNELS);
  const arena = new Arena({ kernels });
  const floor = new WebAssembly.Instance(FLOOR_MODULE, { env: { memory: kernels.wasmMemory } }).exports;
  const rng = new Rng(0x5eed);
  const pool = new Pool([arena], Math.min(262144, MAX_K * PAGES));
  const inPage = fillPool(pool, pattern, density, rng);
  const metaPools = {};
  for (const count of KS) {
    const layout = patternLayout(pattern, count, PAGES, density, inPage, pool, rng);
    const bitmaps = applyLayout(arena, 0, pool, layout, BLOCKS);
    for (const mode of MODES) {
      const g = mode === 'plain' ? undefined : Number(mode);
      const meta = g === undefined ? undefined : metaFor(g);
      rows.push(measure({ pattern, density, count, mode, layout, bitmaps, meta }));
      if (meta) releaseMaps(meta.maps);
    }
    releaseMaps(bitmaps);
  }

  function metaFor(granularity) {
    const metaBits = Math.ceil(BLOCKS / 2 ** granularity);
    const metaPages = Math.ceil(metaBits / PAGE_BLOCKS);
    if (!metaPools[granularity]) {
      const metaPool = new Pool([arena], (MAX_K + 1) * metaPages);
      metaPool.generate((u32, w, p) => fillMeta(u32, w, p, META_UNSET, rng));
      metaPools[granularity] = metaPool;
    }
    return { granularity, metaPages, pool: metaPools[granularity], bits: metaBits };
  }

  function measure({ count, meta, layout, bitmaps, ...rest }) {
    let metaLayout = [];
    let set = { bitmaps };
    if (meta) {
      metaLayout = fullLayout(count + 1, meta.metaPages, meta.pool);
      meta.maps = applyLayout(arena, 0, meta.pool, metaLayout, meta.bits);
      set = { bitmaps, meta: { metas: meta.maps.slice(0, count), live: meta.maps[count], granularity: meta.granularity } };
    }
    let stored = 0;
    for (const entries of layout) for (const e of entries) if (e >= 0) stored++;
    const bytes = (stored + (meta ? metaLayout.length * meta.metaPages : 0)) * PAGE_BYTES;
    const half = Math.max(1, bytes >> 1);
    const left = Buffer.alloc(half, 0x5a), right = Buffer.alloc(half, 0x5a);
    const readFloor = wasmFloor(bitmaps, meta);
    // Plain, the floor is the count itself: a check that it reads what the count reads.
    if (!meta && readFloor() !== countDelta(set)) throw new Error(`the wasm floor counts ${readFloor()}, countDelta ${countDelta(set)}`);
    const countMs = [], floorMs = [], memcmpMs = [];
    for (let round = 0; round < 5; round++) {
      countMs.push(medianAfterWarmup(() => countDelta(set), { calls: 9, targetMs: 60 }));
      floorMs.push(medianAfterWarmup(readFloor, { calls: 9, targetMs: 60 }));
      memcmpMs.push(medianAfterWarmup(() => Buffer.compare(left, right), { calls: 9, targetMs: 60 }));
    }
    readFloor.free();
    const native = runNative(count, layout, meta, metaLayout);
    for (const n of Object.values(native)) if (n.bytes !== bytes) throw new Error(`native read ${n.bytes} bytes, the bench counts ${bytes}`);
    const row = { ...rest, count, bytes, countMs: median(countMs), wasmFloorMs: median(floorMs), memcmpMs: median(memcmpMs), native, load: os.loadavg()[0] };
    console.log(describe(row));
    return row;
  }

  /** The wasm floor over these maps as a function of no arguments (its lists in the arena; free() gives them back). */
  function wasmFloor(bitmaps, meta) {
    const metaMaps = meta?.maps ?? [];
    const bytes = 4 * (bitmaps.length + metaMaps.length) + 256;
    const at = arena.alloc(bytes);
    const tables = at, metaTables = at + 4 * bitmaps.length, list = metaTables + 4 * metaMaps.length;
    bitmaps.forEach((m, i) => { arena.u32[(tables >>> 2) + i] = m.table; });
    metaMaps.forEach((m, i) => { arena.u32[(metaTables >>> 2) + i] = m.table; });
    const g = meta?.granularity ?? 0;
    const run = () => Number(floor.readFloor(tables, bitmaps.length, metaTables, metaMaps.length, g, PAGES, list));
    run.free = () => arena.free(at, bytes);
    return run;
  }

  function runNative(count, layout, meta, metaLayout) {
    const header = [MAGIC, PAGES, count, metaLayout.length, meta?.granularity ?? 0, pool.pages, meta?.pool.pages ?? 0];
    const parts = [Uint32Array.from(header), ...layout, ...metaLayout].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    const file = join(dir, 'layout.bin');
    writeFileSync(file, Buffer.concat(parts));
    const out = {};
    for (const [name, exe] of Object.entries(exes)) out[name] = JSON.parse(execFileSync(exe, [file, String(REPS)], { encoding: 'utf8' }));
    return out;
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Speed against a baseline: the baseline's time over this one's. */
function ratio(baseMs, ms) {
  return baseMs / ms;
}

/** A C build's floor against its memcmp: the faster of its two orders. */
function floorRatio(n) {
  return ratio(n.memcmpMs, Math.min(n.fusedMs, n.blockedMs));
}

function describe(r) {
  const { avx512, sse } = r.native;
  return `${BLOCKS / 2 ** 20}M x K=${r.count} ${r.pattern} ${r.density * 100}% ${r.mode === 'plain' ? 'plain' : `g=${r.mode}`}: `
    + `${(r.bytes / 2 ** 20).toFixed(1)} MiB; count/memcmp ${ratio(r.memcmpMs, r.countMs).toFixed(2)} (${r.countMs.toFixed(3)} vs ${r.memcmpMs.toFixed(3)} ms), `
    + `wasm floor ${ratio(r.memcmpMs, r.wasmFloorMs).toFixed(2)}; C floor/memcmp SSE ${floorRatio(sse).toFixed(2)}, AVX-512 ${floorRatio(avx512).toFixed(2)} `
    + `(fused ${ratio(avx512.memcmpMs, avx512.fusedMs).toFixed(2)}, blocked ${ratio(avx512.memcmpMs, avx512.blockedMs).toFixed(2)}), `
    + `one stream ${ratio(avx512.memcmpMs, avx512.streamMs).toFixed(2)}; load ${r.load.toFixed(2)}`;
}

function report() {
  if (!OUT) return;
  const head = ['K', 'pattern', 'density', 'mode', 'MiB read', 'count ms', 'memcmp ms', 'count / memcmp', 'wasm floor / memcmp',
    'C SSE floor / memcmp', 'C AVX-512 floor / memcmp', 'AVX-512 one stream / memcmp', 'count / C SSE floor', 'load'];
  const body = rows.map((r) => {
    const { avx512, sse } = r.native;
    const countRatio = ratio(r.memcmpMs, r.countMs);
    return [String(r.count), r.pattern, `${r.density * 100}%`, r.mode === 'plain' ? 'plain' : `g = ${r.mode}`, (r.bytes / 2 ** 20).toFixed(1),
      r.countMs.toFixed(3), r.memcmpMs.toFixed(3), countRatio.toFixed(2), ratio(r.memcmpMs, r.wasmFloorMs).toFixed(2),
      floorRatio(sse).toFixed(2), floorRatio(avx512).toFixed(2), ratio(avx512.memcmpMs, avx512.streamMs).toFixed(2),
      (countRatio / floorRatio(sse)).toFixed(2), r.load.toFixed(2)];
  });
  const text = [
    `# The floor under the count target (\`node bench/lib/read-floor.mjs ${process.argv.slice(2).join(' ')}\`)`,
    '',
    `${new Date().toISOString()}, Node ${process.version}, ${os.cpus()[0].model} x ${os.cpus().length}, ${BLOCKS / 2 ** 20}M blocks; all times in \`read-floor.json\`.`,
    '',
    '- count / memcmp: countDelta (wasm) against Buffer.compare of two halves of the bytes the maps store, medians of five alternating rounds in one process; wasm floor: `bench/wasm/read-floor.ts` in the same rounds, on the same arena.',
    '- C floors: `bench/native/read-floor.c` on the same layout (every stored bit map page and every meta byte the count reads) adds up the bits of their OR, page by page of the volume with all streams in flight (fused) or map by map into L1 (blocked), the faster of the two against C\'s memcmp over as many bytes in the same process. SSE: built for x86-64-v2, 16-byte vectors and popcnt on each half, as V8 runs WebAssembly SIMD128 here; AVX-512: built for this CPU, 64-byte vectors and vpopcntq. One stream: the same number of bytes from one contiguous buffer.',
    '- The floors do less than any exact count (no masks, no granule expansion): where a floor stays under 0.8, no count built that way reaches 0.8 x memcmp on that layout here. count / C SSE floor: how close the kernels come to the 128-bit floor.',
    '',
    markdown(head, body),
  ];
  writeFileSync(OUT, text.join('\n') + '\n');
  writeFileSync(OUT.replace(/\.md$/, '') + '.json', JSON.stringify({ blocks: BLOCKS, rows }, null, 1));
}
