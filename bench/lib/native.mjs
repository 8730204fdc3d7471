// The same loops in C (bench/native/kernels.c), compiled natively with gcc -O3
// -march=native and run in the kernel benchmark's run: the count (OR, masks, g = 3
// expansion, popcount) against memcmp over the same bytes, and the cost of emitting
// extents, so a target the wasm kernels miss can be set against what native code
// gets on this machine at the same moment. Skipped (and said so) without gcc.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), '..', 'native', 'kernels.c');

/**
 * Runs each [blocks, K, density, mode?] case (mode as kernels.c takes it: 3, 0, plain,
 * or 3v, 0v, plainv for the page-by-page vectorized loops; default 3); returns { rows } or { skipped }.
 */
export function benchNative(cases, { reps = 5, log = () => {} } = {}) {
  const dir = mkdtempSync(join(os.tmpdir(), 'snapcopy-native-'));
  try {
    const exe = join(dir, 'kernels');
    try {
      execFileSync('gcc', ['-O3', '-march=native', '-o', exe, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      return { skipped: `gcc could not build ${SOURCE}: ${String(e.message).split('\n')[0]}` };
    }
    const rows = [];
    for (const [blocks, count, density, mode = '3'] of cases) {
      const load = os.loadavg();
      const out = execFileSync(exe, [String(blocks), String(count), String(density), String(reps), mode], { encoding: 'utf8' });
      const r = JSON.parse(out);
      r.load = load;
      r.countGBps = r.bytes / (r.countMs * 1e6);
      r.memcmpGBps = r.bytes / (r.memcmpMs * 1e6);
      r.nsPerExtent = (r.extentsMs * 1e6) / r.extents;
      r.nsPerExtentLoop = (r.extentsLoopMs * 1e6) / r.extents;
      rows.push(r);
      log(`native C, mode ${mode}, ${blocks / 2 ** 20}M x K=${count} ${density * 100}%: count ${r.countGBps.toFixed(2)} GB/s, memcmp ${r.memcmpGBps.toFixed(2)} GB/s, ${r.nsPerExtent.toFixed(2)} ns per extent (${r.nsPerExtentLoop.toFixed(2)} one loop trip a run) (load ${load.map((x) => x.toFixed(2)).join(' ')})`);
    }
    return { rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
