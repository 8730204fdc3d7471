// Input for bench/native/runs-prototype.c: the kernel bench's clustered maps (bench/lib/maps.mjs,
// density d, K maps of `blocks` blocks) and mixed meta maps at g = 3 (1 % of granules out of
// use), written as each page's runs and the dense meta pages, with countDelta's exact
// counts (meta-aware and plain) for the C program to check against, and countDelta's time
// on the same maps. It asks whether a run page form could beat CRoaring where dense pages
// lose (bench/results/fifty/): the C program counts from the runs natively.
//
//   npm run build && node bench/lib/runs-prototype.mjs 256 16 0.5 /tmp/runs.bin
//   gcc -O3 -march=native -o /tmp/runs bench/native/runs-prototype.c && /tmp/runs /tmp/runs.bin
//
// With a round count after the file (`... /tmp/runs.bin 5`) the script also builds the C
// program and, round by round in one sitting, times CRoaring (orMany, and orMany + and at
// g = 3, as bench/run.mjs does) and countDelta on the same maps and runs the C program,
// so the prototype is set against roaring measured at the same moment (best of 7 each).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lib } from './dist.mjs';
import { applyLayout, clusteredLayout, fillClustered, fillMeta, fullLayout, Pool } from './maps.mjs';
import { loadRoaring, RoaringBuilder } from './roaring.mjs';
import { Rng } from './rng.mjs';

const { Arena, countDelta, PAGE_BLOCKS, PAGE_BYTES } = lib;
const M = 2 ** 20;
const [blocksM, K, density] = process.argv.slice(2, 5).map(Number);
const out = process.argv[5];
const rounds = Number(process.argv[6] ?? 0);
if (!out || !(blocksM > 0) || !(K > 0) || !(density > 0)) throw new Error('usage: runs-prototype.mjs <blocks in M> <K> <density> <out file>');
const blocks = blocksM * M;
const pages = blocks / PAGE_BLOCKS;
const metaBits = blocks / 8;
const metaPages = Math.ceil(metaBits / PAGE_BLOCKS);

const arena = new Arena({ kernels: 'wasm' });
const rng = new Rng(11);
// Every touched page distinct, as in the full kernel bench (its pool is larger than any cache).
const poolPages = Math.min(65536, Math.ceil(K * pages * density) + 16);
const pool = new Pool([arena], poolPages);
pool.generate((u32, w, p) => fillClustered(u32, w, p, rng));
const metaPool = new Pool([arena], (K + 1) * metaPages);
metaPool.generate((u32, w, p) => fillMeta(u32, w, p, 0.01, rng));
const layout = clusteredLayout(K, pages, density, pool, rng);
const metaLayout = fullLayout(K + 1, metaPages, metaPool);
const maps = applyLayout(arena, 0, pool, layout, blocks);
const metas = applyLayout(arena, 0, metaPool, metaLayout, metaBits);
const metaOptions = { bitmaps: maps, meta: { metas: metas.slice(0, K), live: metas[K], granularity: 3 } };
const plainOptions = { bitmaps: maps };

/** The runs of each pool page: a start index per page (and one past the last), then [first, end) u16 pairs. */
function poolRuns() {
  const u32 = arena.u32;
  const starts = new Uint32Array(poolPages + 1);
  const runs = [];
  for (let p = 0; p < poolPages; p++) {
    starts[p] = runs.length / 2;
    const w0 = (pool.offsets[0] >>> 2) + p * (PAGE_BYTES / 4);
    let first = -1;
    for (let b = 0; b < PAGE_BLOCKS; b++) {
      const set = (u32[w0 + (b >>> 5)] >>> (b & 31)) & 1;
      if (set && first < 0) first = b;
      else if (!set && first >= 0) {
        runs.push(first, b);
        first = -1;
      }
    }
    if (first >= 0) runs.push(first, PAGE_BLOCKS);
  }
  starts[poolPages] = runs.length / 2;
  return { starts, runs: new Uint16Array(runs) };
}

const { starts, runs } = poolRuns();
const expected = countDelta(metaOptions);
const expectedPlain = countDelta(plainOptions);
const header = new Float64Array([K, pages, metaPages, poolPages, runs.length / 2, (K + 1) * metaPages, expected, expectedPlain]);
const table = (entries, n) => {
  const all = new Int32Array(entries.length * n);
  entries.forEach((e, i) => all.set(e, i * n));
  return all;
};
const metaBytes = arena.u8.subarray(metaPool.offsets[0], metaPool.offsets[0] + (K + 1) * metaPages * PAGE_BYTES);
const parts = [header, starts, runs, table(layout, pages), table(metaLayout, metaPages), metaBytes];
writeFileSync(out, Buffer.concat(parts.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))));

/** Best of 7 calls of fn, in ms; after(value) runs untimed after each (roaring's dispose). */
function best(fn, after = () => {}) {
  let ms = Infinity;
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    const value = fn();
    ms = Math.min(ms, performance.now() - t0);
    after(value);
  }
  return ms;
}
console.log(`${blocksM}M x K=${K} clustered ${density * 100} %: ${runs.length / 2} runs in ${poolPages} pages (${(runs.length / 2 / poolPages).toFixed(1)} a page); ` +
  `countDelta over dense pages, best of 7: meta-aware ${best(() => countDelta(metaOptions)).toFixed(3)} ms, plain ${best(() => countDelta(plainOptions)).toFixed(3)} ms`);
if (rounds > 0) await sameSitting(rounds);

/** Rounds of roaring, countDelta and the C program on the same maps, one after the other. */
async function sameSitting(n) {
  const roaring = await loadRoaring();
  if (roaring.error) throw new Error(`roaring: ${roaring.error}`);
  const R = roaring.RoaringBitmap32;
  const builder = new RoaringBuilder(R, blocks, (entry) => pool.counts[(entry - pool.offsets[0]) / PAGE_BYTES]);
  const plain = maps.map((map) => builder.plain(map));
  const inputs = plain.map((bitmap, i) => builder.bitsOrUnused(bitmap, metas[i], 3));
  const live = builder.inUse(metas[K], 3);
  const dir = mkdtempSync(join(os.tmpdir(), 'snapcopy-runs-'));
  try {
    const exe = join(dir, 'runs');
    const source = fileURLToPath(new URL('../native/runs-prototype.c', import.meta.url));
    execFileSync('gcc', ['-O3', '-march=native', '-o', exe, source]);
    // The union's size is what is timed, as in bench/run.mjs; freeing it is not.
    const roaringPlain = () => {
      const u = R.orMany(plain);
      u.size;
      return u;
    };
    const roaringMeta = () => {
      const u = R.orMany(inputs);
      u.andInPlace(live);
      u.size;
      return u;
    };
    const dispose = (u) => u.dispose?.();
    for (const [fn, want] of [[roaringPlain, expectedPlain], [roaringMeta, expected]]) {
      const u = fn();
      if (u.size !== want) throw new Error(`roaring counts ${u.size}, countDelta ${want}`);
      dispose(u);
    }
    console.log('| round | load | roaring plain | native runs, union | countDelta plain | roaring g = 3 | native runs, g = 3 | countDelta g = 3 |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (let r = 1; r <= n; r++) {
      const load = os.loadavg()[0].toFixed(2);
      const rp = best(roaringPlain, dispose);
      const rm = best(roaringMeta, dispose);
      const cp = best(() => countDelta(plainOptions));
      const cm = best(() => countDelta(metaOptions));
      const c = JSON.parse(execFileSync(exe, [out], { encoding: 'utf8' }));
      if (!c.exact) throw new Error('the C program disagrees with countDelta');
      console.log(`| ${r} | ${load} | ${rp.toFixed(2)} | ${c.unionMs.toFixed(2)} | ${cp.toFixed(2)} | ${rm.toFixed(2)} | ${c.countMs.toFixed(2)} | ${cm.toFixed(2)} |`);
    }
    console.log('ms, best of 7 each; the native count reads the runs of each page (a run page form), roaring its run-optimized containers, countDelta the dense pages.');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    for (const b of [...plain, ...inputs, live]) b.dispose?.();
  }
}
