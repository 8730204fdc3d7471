// Block compare for nop-write: differingBlocks (src/kernels/block-compare.ts) by its two
// ways on the same arrays — the compareBlocks kernel with both sides staged into its
// memory (wasm and ts), and one Buffer.compare per block in place — for block sizes
// 512 B .. 1 MiB, blocks all the same, differing at their first byte, or at their last.
// GB/s counts both arrays. The auto way switches at MEMCMP_MIN_BLOCK from these numbers.
//
//   npm run build && node bench/lib/compare-blocks.mjs [--quick]

import { readFileSync } from 'node:fs';
import process from 'node:process';
import { distModule } from './dist.mjs';

const { differingBlocks, MEMCMP_MIN_BLOCK, useBlockCompareKernels } = await distModule('kernels/block-compare.js');

const MiB = 2 ** 20;

function gbps(fn, bytes, reps) {
  for (let i = 0; i < 3; i++) fn();
  const times = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  return bytes / (times[times.length >> 1] * 1e6);
}

export function benchCompareBlocks({ quick = false, log = console.error } = {}) {
  const rows = [];
  const load = readFileSync('/proc/loadavg', 'utf8').trim();
  log(`compare-blocks: load average ${load}`);
  const totals = quick ? [4 * MiB] : [4 * MiB, 64 * MiB];
  for (const total of totals) {
    for (const blockBytes of [512, 2048, 4096, 8192, 65536, MiB]) {
      for (const kind of ['same', 'differ-first', 'differ-last']) {
        const a = new Uint8Array(total);
        for (let i = 0; i < total; i += 64) a[i] = i * 7;
        const b = Uint8Array.from(a);
        if (kind !== 'same') for (let o = 0; o < total; o += blockBytes) b[o + (kind === 'differ-first' ? 0 : blockBytes - 1)] ^= 1;
        const flags = new Uint8Array(total / blockBytes);
        const reps = total > 16 * MiB ? 7 : 15;
        const row = { totalMiB: total / MiB, blockBytes, kind };
        useBlockCompareKernels('wasm');
        row.wasmStaged = gbps(() => differingBlocks(a, b, blockBytes, flags, 'kernel'), 2 * total, reps);
        useBlockCompareKernels('ts');
        row.tsStaged = gbps(() => differingBlocks(a, b, blockBytes, flags, 'kernel'), 2 * total, reps);
        row.memcmp = gbps(() => differingBlocks(a, b, blockBytes, flags, 'memcmp'), 2 * total, reps);
        useBlockCompareKernels('auto');
        rows.push(row);
        log(`  ${total / MiB} MiB, ${blockBytes} B blocks, ${kind}: wasm staged ${row.wasmStaged.toFixed(2)} GB/s, ts staged ${row.tsStaged.toFixed(2)}, memcmp per block ${row.memcmp.toFixed(2)}`);
      }
    }
  }
  return { load, memcmpMinBlock: MEMCMP_MIN_BLOCK, rows };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  benchCompareBlocks({ quick: process.argv.includes('--quick'), log: console.log });
}
