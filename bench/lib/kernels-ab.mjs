// A quick A/B of two kernel builds on one workload, alternating in one process: the
// current kernels and an older kernels.wasm (bench/lib/before.mjs), on the same pool
// pages, timing plain and meta-aware (g = 3) counts and kernel scans (median of 11).
// For checking a before/after figure of bench/run.mjs on a quieter moment.
//
//   node bench/lib/kernels-ab.mjs OLD.wasm [blocksM=256] [K=4] [density=0.01] [scattered|runs] [old-first]

import process from 'node:process';
import { loadKernelsFile } from './before.mjs';
import { lib } from './dist.mjs';
import { applyLayout, fillMeta, fillRuns, fillScattered, fullLayout, Pool, runsLayout, scatteredLayout } from './maps.mjs';
import { Rng } from './rng.mjs';

const { Arena, countDelta, PAGE_BLOCKS, ACC_BYTES } = lib;
const [file, blocksM = '256', k = '4', d = '0.01', pattern = 'scattered', order] = process.argv.slice(2);
if (!file) throw new Error('usage: kernels-ab.mjs OLD.wasm [blocksM] [K] [density] [scattered|runs] [old-first]');
const blocks = Number(blocksM) * 2 ** 20;
const count = Number(k);
const density = Number(d);
const named = [['new', new Arena({ kernels: 'wasm' })], ['old', new Arena({ kernels: loadKernelsFile(file) })]];
if (order === 'old-first') named.reverse();
const arenas = named.map(([, a]) => a);
const pool = new Pool(arenas, 32768);
const metaPool = new Pool(arenas, 8192);
const rng = new Rng(7);
pool.generate((u32, w, p) => (pattern === 'runs' ? fillRuns(u32, w, p, density, rng) : fillScattered(u32, w, p, density, rng)));
metaPool.generate((u32, w, p) => fillMeta(u32, w, p, 0.01, rng));
const pages = blocks / PAGE_BLOCKS;
const layout = pattern === 'runs' ? runsLayout(count, pages, density, pool, rng) : scatteredLayout(count, pages, pool);
const g = 3;
const metaBits = blocks / 8;
const metaLayout = fullLayout(count + 1, Math.ceil(metaBits / PAGE_BLOCKS), metaPool);

function median(fn) {
  for (let i = 0; i < 5; i++) fn();
  const times = [];
  let value;
  for (let i = 0; i < 11; i++) {
    const t = performance.now();
    value = fn();
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  return `${times[5].toFixed(2)} ms (${value})`;
}

console.log(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}; ${blocksM}M x K=${count} ${pattern} ${density}`);
for (const [a, [name, arena]] of named.entries()) {
  const bitmaps = applyLayout(arena, a, pool, layout, blocks);
  const maps = applyLayout(arena, a, metaPool, metaLayout, metaBits);
  const meta = { metas: maps.slice(0, count), live: maps[count], granularity: g };
  const kern = arena.kernels;
  const base = arena.alloc(ACC_BYTES + 4096 + 65536 * 8);
  const acc = base;
  const tables = base + ACC_BYTES;
  const metas = tables + count * 4;
  const cursor = metas + count * 4;
  const out = base + ACC_BYTES + 4096;
  bitmaps.forEach((m, i) => (arena.u32[(tables >>> 2) + i] = m.table));
  maps.slice(0, count).forEach((m, i) => (arena.u32[(metas >>> 2) + i] = m.table));
  const scan = (withMeta) => {
    let n = 0;
    for (let at = 0; at < blocks; at = arena.u32[cursor >>> 2]) {
      n += withMeta
        ? kern.scanMeta(tables, metas, count, maps[count].table, g, at, blocks, out, 65536, cursor, acc)
        : kern.scanPlain(tables, count, at, blocks, out, 65536, cursor, acc);
    }
    return n;
  };
  console.log(`${name}: plain count ${median(() => countDelta({ bitmaps }))}, plain kernel scan ${median(() => scan(false))}, g=3 count ${median(() => countDelta({ bitmaps, meta }))}, g=3 kernel scan ${median(() => scan(true))}`);
}
