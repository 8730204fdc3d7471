// A plain count of the kernel bench's maps on two builds of the library, alternating
// processes (bench/lib/count-plain-once.mjs), for a change outside the kernels (which
// `bench/run.mjs --before=` times in one process): the build before through
// SNAPCOPY_DIST_DIR (a dist/ built from the older tree), then dist/ of this tree.
//
//   node bench/lib/dist-ab.mjs <dist before> [--rows=clustered:0.5:16:256,...] [--pairs=3] [--seconds=2]

import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const [before, ...rest] = process.argv.slice(2);
if (!before || before.startsWith('--')) throw new Error('usage: node bench/lib/dist-ab.mjs <dist before> [--rows=...] [--pairs=3] [--seconds=2]');
const option = (name, fallback) => rest.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const rows = option('rows', 'clustered:0.5:16:256,scattered:0.0001:16:256,runs:0.01:16:256,runs:0.5:16:256').split(',');
const pairs = Number(option('pairs', '3'));
const seconds = option('seconds', '2');
const script = fileURLToPath(new URL('count-plain-once.mjs', import.meta.url));

const once = (dist, row) => {
  const env = { ...process.env };
  if (dist) env.SNAPCOPY_DIST_DIR = dist;
  else delete env.SNAPCOPY_DIST_DIR;
  const [ms, changed] = execFileSync(process.execPath, [script, ...row.split(':'), seconds], { env, encoding: 'utf8' }).trim().split(' ');
  return { ms: Number(ms), changed };
};

console.log(`| row (pattern:density:K:blocks in M) | before ms | after ms | before / after |`);
console.log('|---|---|---|---|');
for (const row of rows) {
  for (let i = 0; i < pairs; i++) {
    const a = once(before, row);
    const b = once(undefined, row);
    if (a.changed !== b.changed) throw new Error(`${row}: the builds count ${a.changed} and ${b.changed}`);
    console.log(`| ${row} | ${a.ms.toPrecision(3)} | ${b.ms.toPrecision(3)} | ${(a.ms / b.ms).toFixed(2)} |`);
  }
}
