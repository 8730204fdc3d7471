// Two facts about reads from the page cache on this machine that set the export's
// speed (bench/results/volume-export.md), measured with plain node:fs and no snapcopy:
//
//   node bench/page-cache.mjs [--dir=<directory on the volume's file system>]
//
// 1. How a file was written decides how fast it reads back: 8 GiB sparse, 512 KiB
//    written every 4 MiB, either alone, or after reading the hole and writing it back
//    (what a volume's first write did before the hole map), or after writing zeros.
// 2. Where a read lands: the same extents read into buffers starting 0 to 528 bytes
//    past a page boundary (a WebAssembly memory starts on a page).
// Prints GB/s, best of three; nothing is written to bench/results.

import { closeSync, fdatasyncSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MiB = 1 << 20;
const GiB = 1 << 30;
const SIZE = 8 * GiB;
const CHANGED = GiB;
const RUN = 512 * 1024;
const STRIDE = (SIZE / CHANGED) * RUN;
const dirArg = process.argv.find((a) => a.startsWith('--dir='))?.slice(6);
const work = mkdtempSync(join(dirArg ?? tmpdir(), 'snapcopy-page-cache-'));
const memory = new WebAssembly.Memory({ initial: 80 }).buffer; // 5 MiB, page-aligned
const page = (offset) => new Uint8Array(memory, offset, 4 * MiB);

function make(name, before) {
  const path = join(work, name);
  const fd = openSync(path, 'w+');
  ftruncateSync(fd, SIZE);
  const data = new Uint8Array(RUN).fill(7);
  for (let at = 0; at < SIZE; at += STRIDE) {
    before(fd, at);
    writeSync(fd, data, 0, RUN, at);
  }
  fdatasyncSync(fd);
  closeSync(fd);
  return path;
}

function readExtents(path, into) {
  const fd = openSync(path, 'r');
  const t = process.hrtime.bigint();
  for (let at = 0; at < SIZE; at += STRIDE) readSync(fd, into, 0, RUN, at);
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  closeSync(fd);
  return CHANGED / s / 1e9;
}

const best = (f) => Math.max(f(), f(), f()).toFixed(2);

try {
  const files = {
    'written alone': make('alone', () => {}),
    'the hole read and written back first': make('claimed', (fd, at) => {
      const old = new Uint8Array(RUN);
      readSync(fd, old, 0, RUN, at);
      writeSync(fd, old, 0, RUN, at);
    }),
    'zeros written first': make('zeros', (fd, at) => writeSync(fd, new Uint8Array(RUN), 0, RUN, at)),
  };
  console.log('1. extents read back into a page-aligned buffer, by how they were written (GB/s)');
  for (const [label, path] of Object.entries(files)) console.log(`   ${label}: ${best(() => readExtents(path, page(0)))}`);
  console.log('2. the extents written alone, read into a buffer starting so many bytes past a page (GB/s)');
  for (const offset of [0, 8, 16, 24, 32, 80, 144, 272, 528]) {
    console.log(`   ${offset}: ${best(() => readExtents(files['written alone'], page(offset)))}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
