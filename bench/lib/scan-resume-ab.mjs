// scanDelta at its default batch (8192 extents) and at 65536, for two kernel builds
// alternating in one process: this build's kernels and an older kernels.wasm
// (bench/lib/before.mjs), over the same plain bit maps of scattered bits (distinct
// pages, as read from RAM). A scan of a delta with many extents resumes its kernel mid-
// page once per batch; this shows what that costs each build.
//
//   node bench/lib/scan-resume-ab.mjs OLD.wasm [density=0.01] [K=4] [blocksM=256] [rounds=9]

import process from 'node:process';
import { loadKernelsFile } from './before.mjs';
import { lib } from './dist.mjs';
import { scatteredMaps } from './maps.mjs';
import { Rng } from './rng.mjs';

const { Arena, scanDelta } = lib;
const [file, d = '0.01', k = '4', blocksM = '256', r = '9'] = process.argv.slice(2);
if (!file) throw new Error('usage: scan-resume-ab.mjs OLD.wasm [density] [K] [blocksM] [rounds]');
const density = Number(d);
const count = Number(k);
const blocks = Number(blocksM) * 2 ** 20;
const rounds = Number(r);

const arms = [['new', 'wasm'], ['old', loadKernelsFile(file)]].map(([name, kernels]) => {
  // The same bits in every arena: one seed.
  return { name, maps: scatteredMaps(new Arena({ kernels }), blocks, count, density, new Rng(7)) };
});

function scan(maps, batch) {
  let n = 0;
  // One buffer for the batches: fresh copies would add their page faults to both arms.
  for (const b of scanDelta({ bitmaps: maps, batch, reuse: true })) n += b.length;
  return n >>> 1;
}

const times = new Map();
let extents;
for (let round = 0; round < rounds; round++) {
  for (const arm of arms) {
    for (const batch of [8192, 65536]) {
      const t = process.hrtime.bigint();
      const n = scan(arm.maps, batch);
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if ((extents ??= n) !== n) throw new Error(`${arm.name}, batch ${batch}: ${n} extents, not ${extents}`);
      const key = `${arm.name}, batch ${batch}`;
      times.set(key, [...(times.get(key) ?? []), ms]);
    }
  }
}
console.log(`${blocks / 2 ** 20}M x K=${count} scattered ${density * 100}%: ${extents} extents; scanDelta, ms over ${rounds} rounds`);
for (const [key, v] of times) {
  v.sort((a, b) => a - b);
  console.log(`${key.padEnd(18)} min ${v[0].toFixed(2)}  median ${v[v.length >> 1].toFixed(2)}`);
}
