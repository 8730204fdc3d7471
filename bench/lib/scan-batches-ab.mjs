// scanDelta handing out its batches as copies (the default) against one reused buffer
// (`reuse: true`, as the library's exports, replication and reads take them), the two
// alternating in one process over the same plain bit maps of scattered bits (distinct
// pages, as read from RAM), with the minor page faults each call took: a fresh copy per
// batch is memory the system may have to fault in again on every call.
//
//   node bench/lib/scan-batches-ab.mjs [density=0.01] [K=4] [blocksM=256] [wasm|ts] [rounds=11]

import process from 'node:process';
import { lib } from './dist.mjs';
import { scatteredMaps } from './maps.mjs';
import { Rng } from './rng.mjs';

const { Arena, scanDelta } = lib;
const [d = '0.01', k = '4', blocksM = '256', backend = 'wasm', r = '11'] = process.argv.slice(2);
const density = Number(d);
const count = Number(k);
const blocks = Number(blocksM) * 2 ** 20;
const rounds = Number(r);

const maps = scatteredMaps(new Arena({ kernels: backend }), blocks, count, density, new Rng(7));

function scan(reuse) {
  let n = 0;
  for (const batch of scanDelta({ bitmaps: maps, reuse })) n += batch.length;
  return n >>> 1;
}

const arms = { copies: { reuse: false, ms: [], faults: 0 }, reused: { reuse: true, ms: [], faults: 0 } };
let extents;
for (let round = 0; round < rounds; round++) {
  for (const arm of Object.values(arms)) {
    const faults = process.resourceUsage().minorPageFault;
    const t = process.hrtime.bigint();
    const n = scan(arm.reuse);
    arm.ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    arm.faults += process.resourceUsage().minorPageFault - faults;
    if ((extents ??= n) !== n) throw new Error(`reuse ${arm.reuse}: ${n} extents, not ${extents}`);
  }
}
console.log(`${backend}, ${blocks / 2 ** 20}M x K=${count} scattered ${density * 100}%: ${extents} extents; scanDelta, ms over ${rounds} rounds`);
for (const [name, arm] of Object.entries(arms)) {
  const v = [...arm.ms].sort((a, b) => a - b);
  console.log(`${name.padEnd(7)} min ${v[0].toFixed(2)}  median ${v[v.length >> 1].toFixed(2)}  max ${v[v.length - 1].toFixed(2)}  page faults a call ${Math.round(arm.faults / rounds)}`);
}
