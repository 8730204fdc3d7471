// Where the sparse page form stops paying: countDelta and scanDelta over K maps whose
// every page holds n random bits, as dense 4 KiB pages and as sparse pages (a u16
// count and n u16 bit numbers behind SPARSE_TAG), for n up to SPARSE_MAX. This is how
// PagedBitmap's SPARSE_LIMIT (src/arena/sparse-page.ts) was chosen; it builds the
// sparse pages by hand so it can go past that limit.
//
//   node bench/sparse-threshold.mjs [--blocks=268435456] [--n=32,96,127,160,200,255,512,1024,2047] [--kernels=wasm|ts]
//
// Times are the least of three rounds of at least 300 ms each, dense and sparse
// alternating, so a loaded machine skews both alike.

import process from 'node:process';
import os from 'node:os';
import { distModule, lib } from './lib/dist.mjs';
import { Rng } from './lib/rng.mjs';

const { Arena, PagedBitmap, countDelta, scanDelta, PAGE_BLOCKS, PAGE_BYTES } = lib;
const { SPARSE_TAG } = await distModule('kernels/api.js');
const option = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const blocks = Number(option('blocks', String(2 ** 28)));
const counts = option('n', '32,96,127,160,200,255,512,1024,2047').split(',').map(Number);
const K = 4;
const pages = Math.ceil(blocks / PAGE_BLOCKS);
const arena = new Arena({ kernels: option('kernels', 'wasm') });
const rng = new Rng(7);

function least(fn) {
  fn();
  let best = Infinity;
  const end = performance.now() + 300;
  for (let i = 0; i < 5 || performance.now() < end; i++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/** K dense maps and K sparse maps with the same n random bits in every page. */
function build(n) {
  const slotBytes = Math.ceil((2 + 2 * n) / 16) * 16;
  const dense = [];
  const sparse = [];
  const runs = [];
  for (let k = 0; k < K; k++) {
    const d = PagedBitmap.create(arena, blocks);
    const s = PagedBitmap.create(arena, blocks);
    const run = arena.alloc(pages * slotBytes);
    runs.push([run, pages * slotBytes]);
    for (let p = 0; p < pages; p++) {
      const set = new Set();
      while (set.size < n) set.add(Math.floor(rng.float() * PAGE_BLOCKS));
      const bits = [...set].sort((a, b) => a - b);
      const page = arena.allocPage();
      const u8 = arena.u8;
      for (const b of bits) u8[page + (b >>> 3)] |= 1 << (b & 7);
      d.setEntry(p, page);
      const slot = (run + p * slotBytes) >>> 1;
      const u16 = arena.u16;
      u16[slot] = n;
      bits.forEach((b, i) => (u16[slot + 1 + i] = b));
      s.setEntry(p, run + p * slotBytes + SPARSE_TAG);
    }
    dense.push(d);
    sparse.push(s);
  }
  const free = () => {
    for (const m of dense) m.free();
    for (const m of sparse) {
      for (let p = 0; p < pages; p++) m.setEntry(p, 0);
      m.free();
    }
    for (const [at, bytes] of runs) arena.free(at, bytes);
  };
  return { dense, sparse, slotBytes, free };
}

const scan = (bitmaps) => () => {
  let n = 0;
  for (const batch of scanDelta({ bitmaps, batch: 65536 })) n += batch.length;
  return n;
};

console.log(`${blocks} blocks x K=${K}, every page n random bits, ${arena.backend}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('| n bits a page | count dense ms | count sparse ms | dense/sparse | scan dense ms | scan sparse ms | dense/sparse | bytes a page: dense / sparse list |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const n of counts) {
  const maps = build(n);
  try {
    if (countDelta({ bitmaps: maps.dense }) !== countDelta({ bitmaps: maps.sparse })) throw new Error(`n=${n}: the counts disagree`);
    let cd = Infinity, cs = Infinity, sd = Infinity, ss = Infinity;
    for (let round = 0; round < 3; round++) {
      cd = Math.min(cd, least(() => countDelta({ bitmaps: maps.dense })));
      cs = Math.min(cs, least(() => countDelta({ bitmaps: maps.sparse })));
      sd = Math.min(sd, least(scan(maps.dense)));
      ss = Math.min(ss, least(scan(maps.sparse)));
    }
    const f = (x) => x.toPrecision(3);
    console.log(`| ${n} | ${f(cd)} | ${f(cs)} | ${f(cd / cs)} | ${f(sd)} | ${f(ss)} | ${f(sd / ss)} | ${PAGE_BYTES} / ${2 + 2 * n} |`);
  } finally {
    maps.free();
  }
}
console.log(`load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
