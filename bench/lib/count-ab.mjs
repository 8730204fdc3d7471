// The plain count (countDelta, no meta maps) of two kernel builds alternating in one
// process, over the kernel bench's maps (bench/lib/maps.mjs; the same pool pages in both
// arenas): this build's kernels and an older kernels.wasm (bench/lib/before.mjs). Seven
// rounds, each op the median of its calls after 100 ms of warm-up; old/new per round.
//
//   node bench/lib/count-ab.mjs OLD.wasm <blocks in M> <K> <scattered|clustered|runs> <density>

import { loadKernelsFile } from './before.mjs';
import { lib } from './dist.mjs';
import { applyLayout, clusteredLayout, fillClustered, fillRuns, fillScattered, Pool, runsLayout, scatteredLayout } from './maps.mjs';
import { Rng } from './rng.mjs';
import { medianAfterWarmup } from './timing.mjs';
const { Arena, countDelta, PAGE_BLOCKS } = lib;
const [file, bm, k, pattern, d] = process.argv.slice(2);
const blocks = Number(bm) * 2 ** 20, count = Number(k), density = Number(d), pages = blocks / PAGE_BLOCKS;
const arenas = [new Arena({ kernels: 'wasm' }), new Arena({ kernels: loadKernelsFile(file) })];
const rng = new Rng(0x5eed);
const pool = new Pool(arenas, Math.min(262144, count * pages));
const fills = { scattered: fillScattered, clustered: (u32, w, p) => fillClustered(u32, w, p, rng), runs: fillRuns };
pool.generate((u32, w, p) => fills[pattern](u32, w, p, density, rng));
let bits = 0; for (const c of pool.counts) bits += c;
const inPage = bits / (pool.pages * PAGE_BLOCKS);
const layout = pattern === 'scattered' ? scatteredLayout(count, pages, pool) : pattern === 'runs' ? runsLayout(count, pages, density, pool, rng) : clusteredLayout(count, pages, Math.min(1, density / inPage), pool, rng);
const sets = arenas.map((a, i) => applyLayout(a, i, pool, layout, blocks));
const want = countDelta({ bitmaps: sets[0] });
if (countDelta({ bitmaps: sets[1] }) !== want) throw new Error('builds disagree');

const med = (fn) => medianAfterWarmup(fn, { calls: 9, targetMs: 60 });
const r = [[], []];
for (let round = 0; round < 7; round++) sets.forEach((maps, i) => r[i].push(med(() => countDelta({ bitmaps: maps }))));
const ratios = r[0].map((x, i) => r[1][i] / x).sort((a, b) => a - b);
console.log(`${bm}M x K=${k} ${pattern} ${d}: new ${r[0].sort((a, b) => a - b)[3].toFixed(4)} ms, old ${r[1].sort((a, b) => a - b)[3].toFixed(4)} ms, old/new median ${ratios[3].toFixed(2)} (${ratios.map((x) => x.toFixed(2)).join(' ')})`);
