// The count (countDelta) of two kernel builds alternating in one process, over the kernel
// bench's maps (bench/lib/maps.mjs; the same pool pages in both arenas): this build's
// kernels and an older kernels.wasm (bench/lib/before.mjs). Plain, or with g: meta maps
// at that granularity as bench/run.mjs makes them (every page stored, a fraction `unset`
// of granules out of use: 1 % unless given), K of them and the live map. Seven rounds, each op the median of its calls
// after 100 ms of warm-up; old/new per round.
//
//   node bench/lib/count-ab.mjs OLD.wasm <blocks in M> <K> <scattered|clustered|runs> <density> [g [unset]]

import { loadKernelsFile } from './before.mjs';
import { lib } from './dist.mjs';
import { applyLayout, clusteredLayout, fillClustered, fillMeta, fillRuns, fillScattered, fullLayout, Pool, runsLayout, scatteredLayout } from './maps.mjs';
import { Rng } from './rng.mjs';
import { Buffer } from 'node:buffer';
import { medianAfterWarmup } from './timing.mjs';
const { Arena, countDelta, PAGE_BLOCKS, PAGE_BYTES } = lib;
const [file, bm, k, pattern, d, g, unset] = process.argv.slice(2);
const blocks = Number(bm) * 2 ** 20, count = Number(k), density = Number(d), pages = blocks / PAGE_BLOCKS;
const arenas = [new Arena({ kernels: 'wasm' }), new Arena({ kernels: loadKernelsFile(file) })];
const rng = new Rng(0x5eed);
const pool = new Pool(arenas, Math.min(262144, count * pages));
const fills = { scattered: fillScattered, clustered: (u32, w, p) => fillClustered(u32, w, p, rng), runs: fillRuns };
pool.generate((u32, w, p) => fills[pattern](u32, w, p, density, rng));
let bits = 0; for (const c of pool.counts) bits += c;
const inPage = bits / (pool.pages * PAGE_BLOCKS);
const layout = pattern === 'scattered' ? scatteredLayout(count, pages, pool) : pattern === 'runs' ? runsLayout(count, pages, density, pool, rng) : clusteredLayout(count, pages, Math.min(1, density / inPage), pool, rng);
const META_UNSET = unset === undefined ? 0.01 : Number(unset);
let storedPages = 0;
for (const entries of layout) for (const index of entries) if (index >= 0) storedPages++;
const metaOf = g === undefined ? () => undefined : metaMaps(Number(g));
const sets = arenas.map((a, i) => ({ bitmaps: applyLayout(a, i, pool, layout, blocks), meta: metaOf(a, i) }));
const want = countDelta(sets[0]);
if (countDelta(sets[1]) !== want) throw new Error('builds disagree');

/** Meta maps at granularity g for arena a (number i): K checkpoints' and the live map. */
function metaMaps(granularity) {
  const bits = Math.ceil(blocks / 2 ** granularity);
  const metaPages = Math.ceil(bits / PAGE_BLOCKS);
  const metaPool = new Pool(arenas, (count + 1) * metaPages);
  metaPool.generate((u32, w, p) => fillMeta(u32, w, p, META_UNSET, rng));
  const metaLayout = fullLayout(count + 1, metaPages, metaPool);
  storedPages += (count + 1) * metaPages;
  return (a, i) => {
    const maps = applyLayout(a, i, metaPool, metaLayout, bits);
    return { metas: maps.slice(0, count), live: maps[count], granularity };
  };
}

// memcmp reads both halves of as many bytes as the maps store (the bench's "same bytes").
const half = Math.max(1, (storedPages * PAGE_BYTES) >> 1);
const left = Buffer.alloc(half, 0x5a), right = Buffer.alloc(half, 0x5a);
const med = (fn) => medianAfterWarmup(fn, { calls: 9, targetMs: 60 });
const r = [[], []], memcmp = [];
for (let round = 0; round < 7; round++) {
  sets.forEach((set, i) => r[i].push(med(() => countDelta(set))));
  memcmp.push(med(() => { if (Buffer.compare(left, right) !== 0) throw new Error('buffers differ'); }));
}
const ratios = r[0].map((x, i) => r[1][i] / x).sort((a, b) => a - b);
const mid = (xs) => [...xs].sort((a, b) => a - b)[3];
console.log(`${bm}M x K=${k} ${pattern} ${d}${g === undefined ? ' plain' : ` g=${g}, ${META_UNSET * 100} % unset`}: new ${mid(r[0]).toFixed(4)} ms, old ${mid(r[1]).toFixed(4)} ms, old/new median ${ratios[3].toFixed(2)} (${ratios.map((x) => x.toFixed(2)).join(' ')}); memcmp of the ${(storedPages * PAGE_BYTES / 2 ** 20).toFixed(1)} MiB stored ${mid(memcmp).toFixed(4)} ms: count / memcmp ${(mid(memcmp) / mid(r[0])).toFixed(2)} new, ${(mid(memcmp) / mid(r[1])).toFixed(2)} old`);
