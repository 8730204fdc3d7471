// How fast WebAssembly can count set bits here, against Buffer.compare over the same
// bytes in the same run: a count that must add up every bit it reads (a plain count of
// one page per map, or of an OR's result) cannot beat the best of these loops, so where
// that is under 0.8 x memcmp the count target is out of reach for such pages. Three
// loops (bench/wasm/popcount-loops.ts, compiled here with the project's asc): lanes (as
// the kernels count vectors), words (8-byte loads), carry-save (Harley-Seal). Sizes from
// L2 to RAM; each op alternates with memcmp, round by round, median of the rounds.
//
//   node bench/lib/popcount-loops.mjs [--rounds=7] [--out=bench/results/popcount-loops.md]

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import process from 'node:process';
import { compileBenchWasm } from './asc.mjs';
import { medianAfterWarmup } from './timing.mjs';

const args = process.argv.slice(2);
const ROUNDS = Number(args.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 7);
const OUT = args.find((a) => a.startsWith('--out='))?.slice(6);
const SIZES = [64 << 10, 1 << 20, 16 << 20, 256 << 20];
const LOOPS = ['lanes', 'words', 'carrySave'];

const largest = SIZES[SIZES.length - 1];
const memory = new WebAssembly.Memory({ initial: largest / 65536 + 1, maximum: 65536 });
const { exports: k } = new WebAssembly.Instance(new WebAssembly.Module(compileBenchWasm('popcount-loops')), { env: { memory } });
const bytes = new Uint8Array(memory.buffer, 0, largest);
const chunk = new Uint8Array(65536);
for (let o = 0; o < largest; o += chunk.length) bytes.set(globalThis.crypto.getRandomValues(chunk), o);
// memcmp reads both halves of `size` bytes: the same bytes as a count of `size`.
const other = Buffer.from(bytes.subarray(0, largest / 2));
const mine = Buffer.from(bytes.buffer, 0, largest / 2);

const rows = [];
for (const size of SIZES) {
  const want = k.lanes(0, size);
  for (const loop of LOOPS) if (k[loop](0, size) !== want) throw new Error(`${loop} counts ${k[loop](0, size)}, lanes ${want}`);
  const half = size / 2;
  const a = mine.subarray(0, half), b = other.subarray(0, half);
  const med = (fn) => medianAfterWarmup(fn, { calls: 9, targetMs: 40 });
  const times = Object.fromEntries([...LOOPS, 'memcmp'].map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const loop of LOOPS) times[loop].push(med(() => k[loop](0, size)));
    times.memcmp.push(med(() => { if (Buffer.compare(a, b) !== 0) throw new Error('differ'); }));
  }
  const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  const gbps = (ms) => size / (ms * 1e6);
  const row = { size, memcmp: gbps(median(times.memcmp)), load: os.loadavg()[0] };
  for (const loop of LOOPS) row[loop] = gbps(median(times[loop]));
  rows.push(row);
  console.error(`${size >> 10} KiB: ${LOOPS.map((l) => `${l} ${row[l].toFixed(1)}`).join(', ')}, memcmp ${row.memcmp.toFixed(1)} GB/s`);
}

const lines = [
  `# Popcount loops in WebAssembly against memcmp (\`node bench/lib/popcount-loops.mjs${args.length ? ' ' + args.join(' ') : ''}\`)`,
  '',
  `${new Date().toISOString()}, Node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x ${os.cpus().length}; GB/s over the bytes counted (memcmp: Buffer.compare of two halves of as many bytes), median of ${ROUNDS} alternating rounds.`,
  '',
  '| bytes | lanes | words | carry-save | memcmp | best / memcmp | load |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) => {
    const best = Math.max(...LOOPS.map((l) => r[l]));
    return `| ${r.size >= 1 << 20 ? `${r.size >> 20} MiB` : `${r.size >> 10} KiB`} | ${r.lanes.toFixed(1)} | ${r.words.toFixed(1)} | ${r.carrySave.toFixed(1)} | ${r.memcmp.toFixed(1)} | ${(best / r.memcmp).toFixed(2)} × | ${r.load.toFixed(1)} |`;
  }),
  '',
];
if (OUT) writeFileSync(OUT, lines.join('\n'));
console.log(lines.join('\n'));
