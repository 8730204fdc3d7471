// Input for bench/native/runs-prototype.c: the kernel bench's clustered maps (bench/lib/maps.mjs,
// density d, K maps of `blocks` blocks) and mixed meta maps at g = 3 (1 % of granules out of
// use), written as each page's runs and the dense meta pages, with countDelta's exact
// counts (meta-aware and plain) for the C program to check against, and countDelta's time
// on the same maps. It asks whether a run page form could beat CRoaring where dense pages
// lose (bench/results/fifty/): the C program counts from the runs natively.
//
//   npm run build && node bench/lib/runs-prototype.mjs 256 16 0.5 /tmp/runs.bin
//   gcc -O3 -march=native -o /tmp/runs bench/native/runs-prototype.c && /tmp/runs /tmp/runs.bin

import { writeFileSync } from 'node:fs';
import { lib } from './dist.mjs';
import { applyLayout, clusteredLayout, fillClustered, fillMeta, fullLayout, Pool } from './maps.mjs';
import { Rng } from './rng.mjs';

const { Arena, countDelta, PAGE_BLOCKS, PAGE_BYTES } = lib;
const M = 2 ** 20;
const [blocksM, K, density] = process.argv.slice(2, 5).map(Number);
const out = process.argv[5];
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

const best = (options) => {
  let ms = Infinity;
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    countDelta(options);
    ms = Math.min(ms, performance.now() - t0);
  }
  return ms;
};
console.log(`${blocksM}M x K=${K} clustered ${density * 100} %: ${runs.length / 2} runs in ${poolPages} pages (${(runs.length / 2 / poolPages).toFixed(1)} a page); ` +
  `countDelta over dense pages, best of 7: meta-aware ${best(metaOptions).toFixed(3)} ms, plain ${best(plainOptions).toFixed(3)} ms`);
