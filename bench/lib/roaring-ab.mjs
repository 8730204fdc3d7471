// countDelta against CRoaring on the kernel bench's maps, round by round in one process:
// each round times the plain count (countDelta against roaring's orMany) and the
// meta-aware count at g = 3 (against orMany + andInPlace, its `bitmap_I | ~meta_I` merged
// untimed), one after the other, so both sides of a ratio share the machine's moment.
// bench/run.mjs times a configuration's wasm rows and roaring's seconds apart, and on this
// shared machine a row's verdict there can flip between runs; this settles the rows near 1.
//
//   node bench/lib/roaring-ab.mjs [--configs=256Mx16:clustered:0.5,16Mx4:scattered:0.5]
//                                 [--rounds=5] [--calls=7] [--out=FILE.md]
//
// Maps as bench/run.mjs builds them (bench/lib/maps.mjs): distinct pool pages of the
// pattern, meta maps with 1 % of granules out of use; roaring's inputs are run-optimized
// (bench/lib/roaring.mjs). memcmp: Buffer.compare over as many bytes as the dense pages two
// or more maps store (what a plain count over dense pages must read at least), in each
// round: where it takes longer than roaring, no loop over dense pages can win. Each op: the median of its timed calls, after untimed ones (median()).

import { Buffer } from 'node:buffer';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import process from 'node:process';
import { lib } from './dist.mjs';
import {
  applyLayout, clusteredLayout, fillClustered, fillMeta, fillRuns, fillScattered, fullLayout, Pool, runsLayout, scatteredLayout,
} from './maps.mjs';
import { loadRoaring, RoaringBuilder } from './roaring.mjs';
import { Rng } from './rng.mjs';
import { medianAfterWarmup } from './timing.mjs';

const { Arena, countDelta, PAGE_BLOCKS, PAGE_BYTES } = lib;
const M = 2 ** 20;
const META_UNSET = 0.01;
const G = 3;

const args = process.argv.slice(2);
const option = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
// The rows of the full run of 2026-12-01 where roaring was faster or within 20 %, and the
// quick run's K = 1 at 50 % (one bit map and its meta maps: roaring's timed work is one and).
const DEFAULT_CONFIGS = '256Mx16:clustered:0.5,16Mx4:clustered:0.5,256Mx16:scattered:0.0001,16Mx4:scattered:0.5,256Mx4:clustered:0.5,16Mx1:scattered:0.5';
const configs = option('configs', DEFAULT_CONFIGS).split(',').map(parseConfig);
const rounds = Number(option('rounds', '5'));
const calls = Number(option('calls', '7'));
const out = option('out', undefined);

function parseConfig(text) {
  const m = /^(\d+)Mx(\d+):(scattered|clustered|runs):([\d.]+)$/.exec(text);
  if (!m) throw new Error(`a config is <blocks in M>x<K>:<scattered|clustered|runs>:<density>, not ${text}`);
  return { blocks: Number(m[1]) * M, count: Number(m[2]), pattern: m[3], density: Number(m[4]), text };
}

const roaring = await loadRoaring();
if (roaring.error) throw new Error(`roaring: ${roaring.error}`);
const R = roaring.RoaringBitmap32;

/** The median of an op's calls in one round (bench/lib/timing.mjs). */
const median = (fn, after) => medianAfterWarmup(fn, { calls, after });

/** The bit maps of one configuration in a fresh arena, with roaring's inputs over the same bits. */
function build(config, rng) {
  const { blocks, count, pattern, density } = config;
  const pages = blocks / PAGE_BLOCKS;
  const arena = new Arena({ kernels: 'wasm' });
  const poolPages = Math.min(262144, count * pages);
  const pool = new Pool([arena], poolPages);
  const fills = { scattered: fillScattered, clustered: (u32, w, p) => fillClustered(u32, w, p, rng), runs: fillRuns };
  pool.generate((u32, w, p) => fills[pattern](u32, w, p, density, rng));
  let poolBits = 0;
  for (const c of pool.counts) poolBits += c;
  const inPage = poolBits / (poolPages * PAGE_BLOCKS);
  const layout = pattern === 'scattered' ? scatteredLayout(count, pages, pool)
    : pattern === 'runs' ? runsLayout(count, pages, density, pool, rng)
      : clusteredLayout(count, pages, Math.min(1, density / inPage), pool, rng);
  const bitmaps = applyLayout(arena, 0, pool, layout, blocks);
  const metaBits = blocks / 2 ** G;
  const metaPages = Math.ceil(metaBits / PAGE_BLOCKS);
  const metaPool = new Pool([arena], (count + 1) * metaPages);
  metaPool.generate((u32, w, p) => fillMeta(u32, w, p, META_UNSET, rng));
  const maps = applyLayout(arena, 0, metaPool, fullLayout(count + 1, metaPages, metaPool), metaBits);
  const meta = { metas: maps.slice(0, count), live: maps[count], granularity: G };
  const builder = new RoaringBuilder(R, blocks, (entry) => pool.counts[(entry - pool.offsets[0]) / PAGE_BYTES]);
  const plain = bitmaps.map((map) => builder.plain(map));
  const inputs = plain.map((bitmap, i) => builder.bitsOrUnused(bitmap, maps[i], G));
  const live = builder.inUse(maps[count], G);
  return { bitmaps, meta, plain, inputs, live, sharedBytes: sharedBytes(layout), dispose: () => [...plain, ...inputs, live].forEach((b) => b.dispose?.()) };
}

/**
 * The dense bytes a plain count must read: the pages two or more maps store (a page one
 * map stores alone is counted from the count its map keeps), each map's page once.
 */
function sharedBytes(layout) {
  let bytes = 0;
  for (let p = 0; p < layout[0].length; p++) {
    let maps = 0;
    for (const entries of layout) if (entries[p] >= 0) maps++;
    if (maps >= 2) bytes += maps * PAGE_BYTES;
  }
  return bytes;
}

/** Buffer.compare over `bytes` bytes in all (two buffers of half each, really written). */
function memcmpOver(bytes) {
  const half = Math.max(1, bytes >> 1);
  const a = Buffer.alloc(half, 0x5a);
  const b = Buffer.from(a);
  return () => {
    if (Buffer.compare(a, b) !== 0) throw new Error('buffers differ');
  };
}

const roaringUnion = (inputs, live) => () => {
  const u = R.orMany(inputs);
  if (live) u.andInPlace(live);
  u.size;
  return u;
};
const dispose = (u) => u.dispose?.();

const lines = [];
const say = (line) => {
  console.log(line);
  lines.push(line);
};
say(`# countDelta against CRoaring, alternating (\`node bench/lib/roaring-ab.mjs ${args.join(' ')}\`)`);
say('');
say(`${new Date().toISOString()}, Node ${process.version}, roaring ${roaring.version} (CRoaring ${roaring.croaring}); median of at least ${calls} calls per op per round, after 100 ms of untimed ones, ${rounds} rounds; ratio = roaring / wasm (> 1: countDelta faster).`);
say('');
say('| configuration | count | round ratios | median ratio | wasm faster | wasm ms (median) | roaring ms (median) | memcmp ms | load |');
say('|---|---|---|---|---|---|---|---|---|');
const rng = new Rng(0x5eed);
for (const config of configs) {
  const set = build(config, rng);
  try {
    const plainCount = countDelta({ bitmaps: set.bitmaps });
    const metaCount = countDelta({ bitmaps: set.bitmaps, meta: set.meta });
    for (const [fn, want, what] of [[roaringUnion(set.plain), plainCount, 'plain'], [roaringUnion(set.inputs, set.live), metaCount, 'g = 3']]) {
      const u = fn();
      if (u.size !== want) throw new Error(`${config.text} ${what}: roaring counts ${u.size}, countDelta ${want}`);
      dispose(u);
    }
    const ops = [
      ['plain', () => countDelta({ bitmaps: set.bitmaps }), roaringUnion(set.plain)],
      ['g = 3', () => countDelta({ bitmaps: set.bitmaps, meta: set.meta }), roaringUnion(set.inputs, set.live)],
    ];
    const results = ops.map(() => ({ wasm: [], roaring: [] }));
    const loads = [];
    const memcmp = memcmpOver(set.sharedBytes);
    const memcmpMs = [];
    for (let r = 0; r < rounds; r++) {
      loads.push(os.loadavg()[0]);
      memcmpMs.push(median(memcmp));
      ops.forEach(([, wasm, theirs], i) => {
        results[i].wasm.push(median(wasm));
        results[i].roaring.push(median(theirs, dispose));
      });
    }
    ops.forEach(([what], i) => {
      const { wasm, roaring: theirs } = results[i];
      const ratios = wasm.map((w, r) => theirs[r] / w);
      const mid = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
      say(`| ${config.text} | ${what} | ${ratios.map((x) => x.toFixed(2)).join(' ')} | ${mid(ratios).toFixed(2)} | ${ratios.filter((x) => x > 1).length}/${rounds} | ` +
        `${mid(wasm).toPrecision(3)} | ${mid(theirs).toPrecision(3)} | ${i === 0 ? mid(memcmpMs).toPrecision(3) : ''} | ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} |`);
    });
  } finally {
    set.dispose();
  }
}
if (out) writeFileSync(out, `${lines.join('\n')}\n`);
