// Bounded map memory (issue 12): scans across many checkpoints of a big volume keep the
// staged checkpoint maps under the data directory's cap, so the process's memory does
// not grow with the checkpoints they touch.
//
//   node bench/map-memory.mjs [--quick]      (part of npm run bench)
//
// Full: 1000 checkpoints of a 256M-block volume (blocks of 512 B, 128 GiB sparse), cap
// 64 MiB; quick: 100 checkpoints of 16M blocks, cap 4 MiB. Each interval writes one
// block in one of 64 regions, so every checkpoint's meta map stores up to 64 pages of its
// own. Then (1) the delta between every two neighbours, one after another, (2) one
// delta from the first to the last (past the cache's room it folds the maps of the
// checkpoints between: src/checkpoint/delta-fold.ts), and (3) a read of a few blocks of
// the oldest checkpoint (the read path overlays every younger checkpoint's save volume:
// those past the cache's room are folded into one layer, src/checkpoint/read-fold.ts).
// Reported: the staged maps, the arena bytes in use (the folds' maps are the caller's,
// not staged), the process RSS and the arena before, during and after (the volume is
// built in a child process, so the RSS is the scans'). Results go to bench/results/map-memory-<quick|full>.{json,md}.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { distModule, lib } from './lib/dist.mjs';

const { DataDir } = lib;
const { mapCacheOf } = await distModule('checkpoint/checkpoint.js');

const QUICK = process.argv.includes('--quick');
const MODE = QUICK ? 'quick' : 'full';
const KERNELS = process.env.SNAPCOPY_KERNELS ?? 'wasm';
const HERE = dirname(fileURLToPath(import.meta.url));
const MiB = 2 ** 20;
const load = () => loadavg().map((n) => n.toFixed(2)).join(' ');
const rss = () => process.memoryUsage().rss;

async function buildVolume(dir, blocks, checkpoints) {
  const blockSize = 512;
  const vol = await dir.createVolume('vol', { size: blocks * blockSize, blockSize });
  const block = new Uint8Array(blockSize).fill(5);
  const regions = 64;
  for (let c = 0; c < checkpoints; c++) {
    const at = (c % regions) * Math.floor(blocks / regions) + Math.floor(c / regions) * 40_000;
    block[0] = c & 0xff; // every write changes its block
    await vol.write(at * blockSize, block);
    await vol.createCheckpoint(`c${c}`);
  }
}

/** Runs `scan` and samples the staged maps and the RSS after each step it reports, and every millisecond. */
async function sampled(cache, arena, scan) {
  const before = { rss: rss(), staged: cache.stats().bytes, inUse: arena.stats().bytesInUse };
  let rssMost = before.rss;
  let stagedMost = before.staged;
  let inUseMost = before.inUse;
  const step = () => {
    rssMost = Math.max(rssMost, rss());
    stagedMost = Math.max(stagedMost, cache.stats().bytes);
    inUseMost = Math.max(inUseMost, arena.stats().bytesInUse);
  };
  const t = performance.now();
  // Also between the steps a scan reports (a read reports none until it ends, when its maps are already freed).
  const timer = setInterval(step, 1);
  const blocks = await scan(step).finally(() => clearInterval(timer));
  const ms = performance.now() - t;
  step();
  return {
    ms, blocks, rssBeforeMiB: before.rss / MiB, rssMostMiB: rssMost / MiB, stagedMostMiB: stagedMost / MiB, stagedAfterMiB: cache.stats().bytes / MiB,
    rssAfterMiB: rss() / MiB, arenaAfterMiB: arena.stats().memoryBytes / MiB,
    inUseBeforeMiB: before.inUse / MiB, inUseMostMiB: inUseMost / MiB,
  };
}

const BLOCKS = QUICK ? 16 * MiB : 256 * MiB;
const CHECKPOINTS = QUICK ? 100 : 1000;
const CAP = (QUICK ? 4 : 64) * MiB;

async function main() {
  const [blocks, checkpoints, cap] = [BLOCKS, CHECKPOINTS, CAP];
  const work = mkdtempSync(join(tmpdir(), 'snapcopy-map-memory-'));
  try {
    // Built in a child process under a cap that holds every map (each write walks every
    // checkpoint's maps), so this process starts the scans with none of that memory.
    const path = join(work, 'data');
    const built = performance.now();
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), `--build=${path}`, ...process.argv.slice(2)], { stdio: 'inherit' });
    if (child.status !== 0) throw new Error(`building the volume failed (exit ${child.status})`);
    const buildMs = performance.now() - built;
    const dir = await DataDir.open(path, { kernels: KERNELS, mapCacheBytes: cap });
    const vol = await dir.volume('vol');
    const cache = mapCacheOf(dir.arena);
    const neighbours = await sampled(cache, dir.arena, async (step) => {
      let n = 0;
      for (let c = 0; c + 1 < checkpoints; c++) {
        for await (const e of vol.diff(`c${c}`, `c${c + 1}`)) n += e.count;
        step();
      }
      return n;
    });
    const across = await sampled(cache, dir.arena, async (step) => {
      let n = 0;
      for await (const e of vol.diff('c0', `c${checkpoints - 1}`)) {
        n += e.count;
        step();
      }
      return n;
    });
    // The block c0 wrote (block 0 of region 0), as c0 holds it: every younger checkpoint's save volume is looked at.
    const readOldest = await sampled(cache, dir.arena, async (step) => {
      const bytes = await vol.read(0, 8 * 512, { checkpoint: 'c0' });
      step();
      if (bytes[1] !== 5) throw new Error(`c0's block 0 reads ${bytes[1]} at byte 1, not 5`);
      return 8;
    });
    const stats = cache.stats();
    const arena = dir.arena.stats();
    await dir.close();
    return {
      mode: MODE, kernels: KERNELS, node: process.versions.node, date: new Date().toISOString(), load: load(),
      blocks, blockSize: 512, checkpoints, capMiB: cap / MiB, buildMs, neighbours, across, readOldest,
      evicted: stats.evicted, arenaMiB: arena.memoryBytes / MiB, arenaInUseMiB: arena.bytesInUse / MiB,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const f = (n, digits = 1) => n.toFixed(digits);

function markdownOf(r) {
  const row = (label, s) => `| ${label} | ${f(s.ms / 1000)} s | ${s.blocks} | ${f(s.stagedMostMiB)} / ${f(s.stagedAfterMiB)} MiB | `
    + `${f(s.inUseBeforeMiB)} / ${f(s.inUseMostMiB)} MiB | `
    + `${f(s.rssBeforeMiB, 0)} / ${f(s.rssMostMiB, 0)} / ${f(s.rssAfterMiB, 0)} MiB (${f(s.rssMostMiB - s.rssBeforeMiB, 0)} MiB more at most) | ${f(s.arenaAfterMiB, 0)} MiB |`;
  return [
    `# snapcopy map memory benchmark (${r.mode}, ${r.kernels} kernels, node ${r.node}; load ${r.load})`,
    '',
    `${r.checkpoints} checkpoints of a ${r.blocks / MiB}M-block volume (blocks of ${r.blockSize} B), staged maps capped at ${r.capMiB} MiB; `
      + `built in ${f(r.buildMs / 1000)} s; ${r.evicted} checkpoints' maps freed in all; arena ${f(r.arenaMiB, 0)} MiB (${f(r.arenaInUseMiB)} MiB in use at the end).`,
    '',
    '| scan | time | blocks | staged maps: most / after | arena in use: before / most | process RSS: before / most / after | arena after |',
    '|---|---|---|---|---|---|---|',
    row(`delta between each two neighbours (${r.checkpoints - 1} deltas)`, r.neighbours),
    row(`one delta from the first checkpoint to the last (the maps past the cache's room folded)`, r.across),
    row(`a read of 8 blocks of the oldest checkpoint (the younger checkpoints past the cache's room folded)`, r.readOldest),
  ].join('\n');
}

const buildPath = process.argv.find((a) => a.startsWith('--build='))?.slice(8);
if (buildPath) {
  const building = await DataDir.open(buildPath, { kernels: KERNELS, mapCacheBytes: 4096 * MiB });
  await buildVolume(building, BLOCKS, CHECKPOINTS);
  await building.close();
  process.exit(0);
}
const results = await main();
const md = markdownOf(results);
console.log(md);
mkdirSync(join(HERE, 'results'), { recursive: true });
writeFileSync(join(HERE, 'results', `map-memory-${MODE}.json`), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(HERE, 'results', `map-memory-${MODE}.md`), `${md}\n`);
