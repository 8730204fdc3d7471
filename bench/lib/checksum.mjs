// The checksum section of bench/run.mjs: the checksum of delta-stream records and RCP
// frames (checksum64, src/storage/checksum.ts) on the wasm and ts kernels, against
// zlib's crc32 (what it replaced) on the same buffer in the same run. The wasm figure
// includes copying the bytes into the kernels' memory, as every caller pays it; "in
// place" is the kernel alone on bytes already there.
//
//   node bench/run.mjs [--quick]            (the whole kernel benchmark)
//   node bench/lib/checksum.mjs [--quick]   (this section alone, printed)

import * as zlib from 'node:zlib';
import { distModule, lib } from './dist.mjs';

import { Rng } from './rng.mjs';
import { markdown, sig } from './table.mjs';
import { measure } from './timing.mjs';

const { ARENA_BASE, loadKernels } = lib;
const { checksum64, useChecksumKernels } = await distModule('storage/checksum.js');

const KiB = 1024;
const NEED = 3;

function randomBuffer(bytes, rng) {
  const buf = new Uint8Array(bytes);
  const u32 = new Uint32Array(buf.buffer);
  for (let i = 0; i < u32.length; i++) u32[i] = rng.next();
  return buf;
}

function gbps(bytes, ms) {
  return bytes / (ms * 1e6);
}

/** Runs the section; returns rows (one per buffer size) and targets for run.mjs. */
export async function benchChecksums({ quick, log = () => {} }) {
  if (typeof zlib.crc32 !== 'function') return { rows: [], targets: [], skipped: 'this runtime has no zlib.crc32' };
  const sizes = quick ? [256 * KiB, 4096 * KiB] : [64 * KiB, 256 * KiB, 1024 * KiB, 4096 * KiB];
  const budgetMs = quick ? 300 : 1000;
  const rng = new Rng(0xc5c5);
  const inPlace = loadKernels('wasm');
  const rows = [];
  for (const bytes of sizes) {
    const buf = randomBuffer(bytes, rng);
    inPlace.memory.grow(ARENA_BASE + bytes);
    new Uint8Array(inPlace.memory.buffer).set(buf, ARENA_BASE);
    const time = async (fn) => (await measure(fn, { budgetMs, minIterations: 5 })).ms;
    useChecksumKernels('wasm');
    const wasmSum = checksum64(buf);
    const wasmMs = await time(() => checksum64(buf));
    const inPlaceMs = await time(() => inPlace.checksum(ARENA_BASE, bytes, 0n));
    useChecksumKernels('ts');
    if (checksum64(buf) !== wasmSum) throw new Error(`checksum: wasm and ts disagree on ${bytes} bytes`);
    const tsMs = await time(() => checksum64(buf));
    useChecksumKernels('auto');
    const crcMs = await time(() => zlib.crc32(buf));
    const row = {
      bytes,
      crc32: { ms: crcMs, gbps: gbps(bytes, crcMs) },
      wasm: { ms: wasmMs, gbps: gbps(bytes, wasmMs) },
      wasmInPlace: { ms: inPlaceMs, gbps: gbps(bytes, inPlaceMs) },
      ts: { ms: tsMs, gbps: gbps(bytes, tsMs) },
    };
    row.wasmOverCrc32 = row.wasm.gbps / row.crc32.gbps;
    row.tsOverCrc32 = row.ts.gbps / row.crc32.gbps;
    row.tsOverWasm = tsMs / wasmMs;
    rows.push(row);
    log(`checksum ${bytes / KiB} KiB: wasm ${sig(row.wasm.gbps)} GB/s (in place ${sig(row.wasmInPlace.gbps)}), ts ${sig(row.ts.gbps)}, zlib crc32 ${sig(row.crc32.gbps)}: wasm/crc32 ${sig(row.wasmOverCrc32)}x`);
  }
  const targets = rows.filter((r) => r.bytes >= 256 * KiB).map((r) => ({
    target: 'C',
    primary: r.bytes === 4096 * KiB,
    value: r.wasmOverCrc32,
    need: NEED,
    pass: r.wasmOverCrc32 >= NEED,
    what: `checksum64 (wasm, copy into the kernel memory included) vs zlib crc32, ${r.bytes / KiB} KiB buffer: ${sig(r.wasm.gbps)} vs ${sig(r.crc32.gbps)} GB/s`,
  }));
  return { rows, targets };
}

export function checksumTable(section) {
  if (section.skipped) return ['## Checksums', '', `skipped: ${section.skipped}`, ''];
  const head = ['buffer', 'wasm GB/s', 'wasm in place GB/s', 'ts GB/s', 'zlib crc32 GB/s', 'wasm/crc32', 'ts/crc32', 'ts/wasm (time)'];
  const body = section.rows.map((r) => [`${r.bytes / KiB} KiB`, sig(r.wasm.gbps), sig(r.wasmInPlace.gbps), sig(r.ts.gbps),
    sig(r.crc32.gbps), `${sig(r.wasmOverCrc32)}×`, `${sig(r.tsOverCrc32)}×`, `${sig(r.tsOverWasm)}×`]);
  return [
    '## Checksums (delta-stream records and RCP frames)',
    '',
    markdown(head, body),
    '',
    'checksum64 (src/storage/checksum.ts; the function: assembly/checksum.ts) against zlib\'s crc32 on the same random buffer, median of repeated calls. '
      + 'wasm includes copying the bytes into the kernels\' memory in 256 KiB steps; "in place" is the kernel alone on bytes already there; ts is the pure-TypeScript twin.',
    '',
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const section = await benchChecksums({ quick: process.argv.includes('--quick'), log: console.error });
  console.log(checksumTable(section).join('\n'));
}
