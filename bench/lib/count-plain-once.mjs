// One process's timing of a plain countDelta over the kernel bench's maps (bench/lib/maps.mjs),
// for bench/lib/dist-ab.mjs, which runs it alternately on two builds of the library
// (SNAPCOPY_DIST_DIR: bench/lib/dist.mjs). Prints "<ms a call> <count>".
//
//   node bench/lib/count-plain-once.mjs <scattered|clustered|runs> <density> <K> <blocks in M> [seconds]

import process from 'node:process';
import { lib } from './dist.mjs';
import { applyLayout, fillPool, patternLayout, Pool } from './maps.mjs';
import { Rng } from './rng.mjs';

const { Arena, countDelta, PAGE_BLOCKS } = lib;
const [pattern, densityText, countText, blocksText, secondsText = '2'] = process.argv.slice(2);
const density = Number(densityText);
const count = Number(countText);
const blocks = Number(blocksText) * 2 ** 20;
const pages = blocks / PAGE_BLOCKS;
const arena = new Arena({ kernels: 'wasm' });
const rng = new Rng(0x5eed);
const pool = new Pool([arena], Math.min(262144, count * pages));
const inPage = fillPool(pool, pattern, density, rng);
const layout = patternLayout(pattern, count, pages, density, inPage, pool, rng);
const bitmaps = applyLayout(arena, 0, pool, layout, blocks);
// The first call finds what the maps keep (page counts, runs); the rest are timed.
let changed = countDelta({ bitmaps });
const start = performance.now();
let calls = 0;
while (performance.now() - start < Number(secondsText) * 1000) {
  changed = countDelta({ bitmaps });
  calls++;
}
console.log(`${((performance.now() - start) / calls).toFixed(6)} ${changed}`);
