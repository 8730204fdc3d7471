// The snapshot copy facility benchmark: export-diff throughput against plain
// sequential reads, the scan's share of an export, write costs around checkpoints,
// a delta between checkpoints 60 apart on a 256M-block volume, import, restore and clone
// against a plain write, and nop-write. Map memory has its own, bench/map-memory.mjs.
//
//   node bench/volume.mjs [--quick]           (part of npm run bench)
//
// Everything runs on real files in a temporary data directory (page cache warm, as
// the baseline read is). These are single long operations and per-write latencies,
// timed directly (best of three, medians) rather than through tinybench. In the import
// section every timed run, the plain-write baselines included, starts from one state:
// sync, Dirty and Writeback drained, and 3 s for freed memory to go back to the host
// (settle() says why), so a ratio compares like with like.
// Results go to bench/results/volume-<quick|full>.{json,md}.

import {
  createReadStream, mkdirSync, openSync, readSync, closeSync, rmSync, writeFileSync, writeSync, mkdtempSync, fdatasyncSync, readFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

// SNAPCOPY_DIST points at another build of the library (for comparing two builds in one tree).
const { DataDir, EMPTY_IMAGE, StreamWriter } = await import(process.env.SNAPCOPY_DIST ?? '../dist/index.js');

const QUICK = process.argv.includes('--quick');
const MODE = QUICK ? 'quick' : 'full';
const KERNELS = process.env.SNAPCOPY_KERNELS ?? 'wasm';
const HERE = dirname(fileURLToPath(import.meta.url));
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const work = mkdtempSync(join(tmpdir(), 'snapcopy-bench-'));
const load = () => loadavg().map((n) => n.toFixed(2)).join(' ');
const results = { mode: MODE, loadStart: load(), kernels: KERNELS, node: process.versions.node, date: new Date().toISOString(), sections: {} };

/** A deterministic fill so the data is not all one byte (no sparse-file or compression shortcuts). */
function fill(bytes, seed) {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  let x = seed | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    words[i] = x;
  }
  return bytes;
}

function best(times) {
  return Math.min(...times);
}

async function timed(fn) {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

/**
 * 4 MiB at the start of a page, for the baselines' reads. Where a read lands matters
 * here: the kernel copies out of the page cache at 16-19 GB/s into a page-aligned
 * buffer and at 7-8 GB/s into one 8 to 24 bytes past a page boundary, which is where
 * malloc puts a Buffer of 4 MiB (bench/results/volume-export.md). A WebAssembly
 * memory starts on a page, so the baselines are the fastest plain read there is.
 */
const alignedPiece = () => new Uint8Array(new WebAssembly.Memory({ initial: 64 }).buffer, 0, 4 * MiB);

/** Plain sequential read of a file into memory in 4 MiB pieces: the baseline. */
function readFileSequential(path, bytes) {
  const fd = openSync(path, 'r');
  const piece = alignedPiece();
  let done = 0;
  while (done < bytes) done += readSync(fd, piece, 0, Math.min(piece.length, bytes - done), done) || bytes;
  closeSync(fd);
}

// A. export-diff of `changed` bytes out of a `size` volume, to /dev/null.
async function exportSection() {
  const size = QUICK ? GiB : 8 * GiB;
  const changed = QUICK ? 128 * MiB : GiB;
  const blockSize = 8192;
  const dir = await DataDir.open(join(work, 'export'), { kernels: KERNELS });
  const vol = await dir.createVolume('vol', { size, blockSize });
  await vol.createCheckpoint('before');
  // Changed blocks in runs of 64 (512 KiB) spread over the volume, one run in every size/changed.
  const run = 64 * blockSize;
  const stride = Math.floor(size / changed) * run;
  const data = fill(new Uint8Array(run), 7);
  for (let at = 0, n = 0; n < changed; at += stride, n += run) await vol.write(at, data);
  // The same bytes as one plain file, for the baseline.
  const plain = join(work, 'plain.bin');
  const fd = openSync(plain, 'w');
  const big = Buffer.alloc(4 * MiB);
  for (let at = 0; at < changed; at += big.length) {
    big.set(data, 0);
    for (let o = 0; o < big.length; o += run) big.set(data, o);
    writeFileSync(fd, big);
  }
  fdatasyncSync(fd);
  closeSync(fd);
  const baseline = [];
  const exports = [];
  const scans = [];
  // The export's own floor: the same reads of the volume's file, at the changed extents, with nothing else.
  const volumeFile = join(work, 'export', 'volumes', 'vol', 'data');
  const volumeReads = [];
  const into = alignedPiece();
  const readExtents = () => {
    const fd = openSync(volumeFile, 'r');
    for (let at = 0, n = 0; n < changed; at += stride, n += run) readSync(fd, into, 0, run, at);
    closeSync(fd);
  };
  // Round 0 warms up and is not counted: a process's first exports ran at about half the speed of later ones.
  for (let round = 0; round <= 5; round++) {
    if (round === 1) for (const list of [baseline, volumeReads, exports, scans]) list.length = 0;
    baseline.push((await timed(() => readFileSequential(plain, changed))).ms);
    volumeReads.push((await timed(readExtents)).ms);
    exports.push((await timed(async () => {
      const out = openSync('/dev/null', 'w');
      for await (const piece of vol.exportDiff('before', undefined, { transient: true })) writeFileSync(out, piece);
      closeSync(out);
    })).ms);
    scans.push((await timed(async () => {
      const size = await vol.diffSize('before');
      let blocks = 0;
      for await (const e of vol.diff('before')) blocks += e.count;
      if (blocks !== size.dataBlocks) throw new Error('scan and count disagree');
    })).ms);
  }
  await dir.close();
  const gbps = (ms) => changed / (ms / 1000) / 1e9;
  const section = {
    volumeBytes: size, changedBytes: changed,
    baselineReadGBps: gbps(best(baseline)), exportGBps: gbps(best(exports)), volumeFileReadGBps: gbps(best(volumeReads)),
    ratio: best(baseline) / best(exports), load: load(),
    scanMs: best(scans), exportMs: best(exports), scanShare: best(scans) / best(exports),
  };
  results.sections.export = section;
  return section;
}

// B. What a write costs: none, first after a checkpoint, later, and with 64 checkpoints.
async function writeSection() {
  const blockSize = 8192;
  const blocks = QUICK ? 256 : 1024;
  const dir = await DataDir.open(join(work, 'writes'), { kernels: KERNELS });
  const vol = await dir.createVolume('vol', { size: blocks * blockSize * 2, blockSize });
  const data = fill(new Uint8Array(blockSize), 3);
  for (let b = 0; b < blocks; b++) await vol.write(b * blockSize, data);
  // Each round writes bytes the blocks do not hold yet, so nop-write skips none of them.
  let round = 3;
  const perWrite = async (label) => {
    const times = [];
    const next = fill(new Uint8Array(blockSize), 2 * ++round + 1); // fill() makes the seed odd: keep them apart
    for (let b = 0; b < blocks; b++) times.push((await timed(() => vol.write(b * blockSize, next))).ms);
    times.sort((a, b) => a - b);
    return { label, medianUs: times[times.length >> 1] * 1000, meanUs: (times.reduce((a, b) => a + b, 0) / times.length) * 1000 };
  };
  const plain = await perWrite('plain (no checkpoint)');
  await vol.createCheckpoint();
  const first = await perWrite('first after a checkpoint');
  const later = await perWrite('later writes');
  for (let i = 0; i < 63; i++) await vol.createCheckpoint();
  const first64 = await perWrite('first after the 64th checkpoint');
  const later64 = await perWrite('later writes, 64 checkpoints');
  await dir.close();
  const rows = [plain, first, later, first64, later64];
  const section = {
    blockSize, writes: blocks, rows,
    firstOverPlain: first.medianUs / plain.medianUs,
    laterOverPlain: later.medianUs / plain.medianUs,
    first64OverFirst1: first64.medianUs / first.medianUs,
    later64OverLater1: later64.medianUs / later.medianUs,
  };
  results.sections.writes = section;
  return section;
}

// C. delta between checkpoints 60 apart, 1% of blocks changed, on a big sparse volume.
async function wideDeltaSection() {
  const blockSize = 512;
  const blocks = QUICK ? 16 * MiB : 256 * MiB; // 8 GiB or 128 GiB, sparse
  const changedBlocks = Math.floor(blocks / 100);
  const dir = await DataDir.open(join(work, 'wide'), { kernels: KERNELS });
  const vol = await dir.createVolume('vol', { size: blocks * blockSize, blockSize });
  const runBlocks = 8192; // 4 MiB writes
  const runs = Math.ceil(changedBlocks / runBlocks);
  const data = fill(new Uint8Array(runBlocks * blockSize), 11);
  const stride = Math.floor(blocks / runs);
  await vol.createCheckpoint('c0');
  for (let c = 1; c <= 60; c++) {
    for (let r = c - 1; r < runs; r += 60) await vol.write(r * stride * blockSize, data);
    await vol.createCheckpoint(`c${c}`);
  }
  const rssBefore = process.memoryUsage().rss;
  const size = await timed(() => vol.diffSize('c0', 'c60'));
  const scan = await timed(async () => {
    let n = 0;
    for await (const e of vol.diff('c0', 'c60')) n += e.count;
    return n;
  });
  const rssAfter = process.memoryUsage().rss;
  const arena = dir.arena.stats();
  await dir.close();
  const section = {
    blocks, blockSize, checkpointsApart: 60, changedBlocks: size.value.dataBlocks,
    sizeMs: size.ms, scanMs: scan.ms, rssMiB: rssAfter / MiB, rssGrowthMiB: (rssAfter - rssBefore) / MiB,
    arenaMiB: arena.memoryBytes / MiB, arenaInUseMiB: arena.bytesInUse / MiB,
  };
  results.sections.wideDelta = section;
  return section;
}

/** Plain sequential write of `bytes` to a new file in 4 MiB pieces, then one fdatasync: the baseline of D. */
function writeFileSequential(path, bytes, piece) {
  const fd = openSync(path, 'w');
  for (let done = 0; done < bytes; done += piece.length) writeSync(fd, piece, 0, Math.min(piece.length, bytes - done), done);
  fdatasyncSync(fd);
  closeSync(fd);
  rmSync(path);
}

/**
 * The writes of an import over blocks in use, without the import: `bytes` over a file
 * already in the page cache (the data, over the volume's blocks) and `bytes` to a new
 * file (the before-images), then one fdatasync of each.
 */
function overwriteAndAppend(cached, fresh, bytes, piece) {
  const fds = [openSync(cached, 'r+'), openSync(fresh, 'w')];
  for (const fd of fds) {
    for (let done = 0; done < bytes; done += piece.length) writeSync(fd, piece, 0, Math.min(piece.length, bytes - done), done);
  }
  for (const fd of fds) {
    fdatasyncSync(fd);
    closeSync(fd);
  }
  rmSync(fresh);
}

/** Writes a delta stream of data records over blocks [0, blocks) in 4 MiB pieces to a file. */
function writeStreamFile(path, { from, to, blocks, blockSize, volumeBlocks, seed }) {
  const writer = new StreamWriter();
  const fd = openSync(path, 'w');
  const header = {
    volume: { name: 'src', uuid: 'bench' }, from, to, blockSize, blocks: volumeBlocks, granularity: 0,
    dataBlocks: blocks, unusedBlocks: 0,
  };
  writeSync(fd, writer.header(header));
  const step = (4 * MiB) / blockSize;
  const data = fill(new Uint8Array(4 * MiB), seed);
  for (let at = 0; at < blocks; at += step) {
    data[0] = at & 0xff; // every piece differs from the others
    for (const part of writer.record({ kind: 'data', start: at, count: Math.min(step, blocks - at), data })) writeSync(fd, part);
  }
  writeSync(fd, writer.trailer());
  closeSync(fd);
}

const streamOf = (path) => createReadStream(path, { highWaterMark: 4 * MiB });

/** Dirty and Writeback from /proc/meminfo: bytes written but not on the disk yet (0 where there is no /proc). */
function pendingWriteMiB() {
  try {
    const info = readFileSync('/proc/meminfo', 'utf8');
    const kib = (key) => Number(info.match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'))?.[1] ?? 0);
    return (kib('Dirty') + kib('Writeback')) / 1024;
  } catch {
    return 0;
  }
}

/**
 * Brings the machine to one state before every timed run of section D, baselines
 * included, so each ratio compares like with like. Two things made the same loop of
 * writes cost 0.25 s or 2 to 3 s per GiB on the machine of the README's figures (a VM):
 * earlier writes still on their way to the disk, and memory. That VM hands freed memory
 * back to its host (virtio-balloon free page reporting, 2 s after it is freed), so a write
 * that needs new page-cache pages (one that extends a file or fills a hole) pays a host
 * page fault per 4 KiB, unless it reuses pages freed a moment before, as a baseline run
 * right after a destroy did. Hence: sync, wait (bounded) until Dirty and Writeback have
 * drained, then 3 s more, so every run, baseline or not, starts with its pages cold.
 */
async function settle() {
  spawnSync('sync');
  for (let i = 0; i < 300 && pendingWriteMiB() > 16; i++) await sleep(100);
  // Quick mode (CI) only proves the sections run; its ratios are not read, so it waits less.
  await sleep(QUICK ? 300 : 3000);
}

async function settledTimed(fn) {
  await settle();
  return (await timed(fn)).ms;
}

// D. import-diff, restore and clone of `bytes`, against a plain write of as many bytes plus one
// fdatasync; an import over blocks in use also against its floor, a plain write of twice the bytes
// (its data and its before-images both reach the disk) plus one fdatasync. Every timed run, baselines
// included, starts from the same state (settle).
async function importSection() {
  const bytes = QUICK ? 128 * MiB : GiB;
  const blockSize = 8192;
  const blocks = bytes / blockSize;
  const volumeBlocks = 2 * blocks;
  const dir = await DataDir.open(join(work, 'import'), { kernels: KERNELS });
  const s1 = join(work, 's1.diff');
  const s2 = join(work, 's2.diff');
  const img1 = { id: 'bench-image-1', name: 'one' };
  writeStreamFile(s1, { from: { id: EMPTY_IMAGE, name: '(empty)' }, to: img1, blocks, blockSize, volumeBlocks, seed: 21 });
  writeStreamFile(s2, { from: img1, to: { id: 'bench-image-2', name: 'two' }, blocks, blockSize, volumeBlocks, seed: 22 });
  readFileSequential(s1, bytes); // both in the page cache, as the baseline's source is
  readFileSequential(s2, bytes);
  const piece = fill(new Uint8Array(4 * MiB), 5);
  const rows = { baseline: [], floor: [], floorAsImport: [], read: [], fresh: [], over: [], restore: [], clone: [] };
  const target = await dir.createVolume('replica', { size: volumeBlocks * blockSize, blockSize });
  await target.importDiff(streamOf(s1));
  await target.createCheckpoint('one');
  const plain = join(work, 'plain-write.bin');
  const cached = join(work, 'cached.bin');
  writeFileSync(cached, new Uint8Array(bytes)); // in the page cache, as the volume's blocks are
  // Quick mode (CI) proves the section runs: one round.
  for (let round = 0; round < (QUICK ? 1 : 3); round++) {
    rows.baseline.push(await settledTimed(() => writeFileSequential(plain, bytes, piece)));
    rows.floor.push(await settledTimed(() => writeFileSequential(plain, 2 * bytes, piece)));
    rows.floorAsImport.push(await settledTimed(() => overwriteAndAppend(cached, plain, bytes, piece)));
    rows.read.push(await settledTimed(() => readFileSequential(s2, bytes)));
    // Into blocks not in use: a new volume takes a full stream (what clone and a first replica do).
    const fresh = await dir.createVolume(`fresh${round}`, { size: volumeBlocks * blockSize, blockSize });
    rows.fresh.push(await settledTimed(() => fresh.importDiff(streamOf(s1))));
    await dir.destroy(`fresh${round}`);
    // Over blocks in use, the volume's newest checkpoint holding its base (as a replica's does after
    // each set): every block the stream rewrites needs its before-image saved.
    await target.createCheckpoint(`next${round}`);
    rows.over.push(await settledTimed(() => target.importDiff(streamOf(s2))));
    rows.restore.push(await settledTimed(() => target.restore('one')));
    rows.clone.push(await settledTimed(() => dir.clone('replica@one', `clone${round}`)));
    await dir.destroy(`clone${round}`);
  }
  await dir.close();
  rmSync(s1);
  rmSync(s2);
  rmSync(cached);
  const gbps = (ms) => bytes / (ms / 1000) / 1e9;
  const base = best(rows.baseline);
  const floor = best(rows.floor);
  const asImport = best(rows.floorAsImport);
  const row = (label, times, withFloor = false) => ({
    label, ms: best(times), gbps: gbps(best(times)), ratio: base / best(times),
    ...(withFloor ? { floorRatio: floor / best(times), asImportRatio: asImport / best(times) } : {}),
  });
  const section = {
    bytes, blockSize, baselineMs: base, baselineGBps: gbps(base), floorMs: floor, floorAsImportMs: best(rows.floorAsImport),
    readMs: best(rows.read), load: load(),
    rows: [
      row('import-diff into blocks not in use (full stream, new volume)', rows.fresh),
      row('import-diff over blocks in use (a replica\'s next set: the newest checkpoint holds the base, every block needs its before-image)', rows.over, true),
      row('restore of a checkpoint', rows.restore),
      row('clone of a checkpoint into a new volume', rows.clone),
    ],
  };
  results.sections.import = section;
  return section;
}

// E. Nop-write: a write of data the volume holds already, against reading it (same run).
async function nopWriteSection() {
  const blockSize = 8192;
  const bytes = (QUICK ? 32 : 256) * MiB;
  const step = 4 * MiB;
  const path = join(work, 'nop');
  const data = fill(new Uint8Array(bytes), 21);
  let dir = await DataDir.open(path, { kernels: KERNELS });
  let vol = await dir.createVolume('vol', { size: bytes, blockSize });
  await vol.write(0, data);
  await vol.createCheckpoint('c0');
  const reps = QUICK ? 3 : 5;
  const median = (times) => times.sort((a, b) => a - b)[times.length >> 1];
  const run = async (fn) => {
    const times = [];
    for (let r = 0; r < reps; r++) times.push((await timed(fn)).ms);
    return median(times);
  };
  const inSteps = (fn) => async () => {
    for (let at = 0; at < bytes; at += step) await fn(at);
  };
  const rows = [];
  const readSteps = await run(inSteps((at) => vol.read(at, step)));
  rows.push({ label: `read, ${step / MiB} MiB at a time`, ms: readSteps });
  rows.push({ label: `unchanged write, ${step / MiB} MiB at a time (one log record each)`, ms: await run(inSteps((at) => vol.write(at, data.subarray(at, at + step)))) });
  rows.push({ label: `unchanged write of all ${bytes / MiB} MiB at once (staged path)`, ms: await run(() => vol.write(0, data)) });
  rows.push({
    label: `unchanged writeFrom, streamed in 1 MiB pieces (compared as it is staged: nothing staged)`,
    ms: await run(() => vol.writeFrom(0, (async function* () { for (let at = 0; at < bytes; at += MiB) yield data.subarray(at, at + MiB); })())),
  });
  const changed = (await vol.diffSize('c0')).dataBlocks;
  await dir.close();
  dir = await DataDir.open(path, { kernels: KERNELS, compareBeforeWrite: false });
  vol = await dir.volume('vol');
  rows.push({ label: `the same write, ${step / MiB} MiB at a time, nop-write off`, ms: await run(inSteps((at) => vol.write(at, data.subarray(at, at + step)))) });
  await dir.close();
  for (const row of rows) row.overRead = row.ms / readSteps;
  const section = { bytes, blockSize, rows, changedBlocksAfterNopWrites: changed, load: load() };
  results.sections.nopWrite = section;
  return section;
}

function nopWriteMarkdown(n) {
  return [
    `## nop-write: writing ${n.bytes / MiB} MiB the volume holds already (blocks of ${n.blockSize} B; load ${n.load})`,
    '',
    '| case | ms | / read (target <= 1) |', '|---|---|---|',
    ...n.rows.map((row) => `| ${row.label} | ${f(row.ms, 1)} | ${f(row.overRead)} |`),
    '',
    `blocks in the delta after the unchanged writes (nop-write on): ${n.changedBlocksAfterNopWrites}`,
  ];
}

const f = (n, digits = 2) => n.toFixed(digits);

function exportMarkdown(e) {
  return [
    `## export-diff of ${e.changedBytes / MiB} MiB changed out of ${e.volumeBytes / GiB} GiB, to /dev/null`,
    '',
    'Best of five rounds after one round of warm-up, each round timing all four.',
    '',
    '| measure | value |', '|---|---|',
    `| sequential read of the same bytes from a file | ${f(e.baselineReadGBps)} GB/s |`,
    `| the same extents read from the volume's file, nothing else (the export's floor) | ${f(e.volumeFileReadGBps)} GB/s |`,
    `| export-diff | ${f(e.exportGBps)} GB/s |`,
    `| export / read (target >= 0.5) | ${f(e.ratio)} |`,
    `| volume-file read / read (what one thread reading alone reaches) | ${f(e.volumeFileReadGBps / e.baselineReadGBps)} |`,
    `| bit map scan (diffSize + extents) | ${f(e.scanMs, 1)} ms = ${f(e.scanShare * 100, 1)}% of the export (target <= 5%) |`,
  ];
}

function writesMarkdown(w) {
  return [
    `## write cost (${w.writes} writes of ${w.blockSize} B each, each durable)`,
    '',
    '| case | median µs | mean µs |', '|---|---|---|',
    ...w.rows.map((row) => `| ${row.label} | ${f(row.medianUs, 0)} | ${f(row.meanUs, 0)} |`),
    '',
    `first / plain = ${f(w.firstOverPlain)} (target <= 3), later / plain = ${f(w.laterOverPlain)} (target <= 1.1), `
      + `first with 64 / with 1 = ${f(w.first64OverFirst1)}, later with 64 / with 1 = ${f(w.later64OverLater1)} (target within 1.10)`,
  ];
}

function wideDeltaMarkdown(d) {
  return [
    `## delta between checkpoints 60 apart: ${d.blocks / MiB}M blocks of ${d.blockSize} B, ${d.changedBlocks} changed`,
    '',
    '| measure | value |', '|---|---|',
    `| exact size (count) | ${f(d.sizeMs, 1)} ms |`,
    `| all extents (scan) | ${f(d.scanMs, 1)} ms |`,
    `| process RSS after | ${f(d.rssMiB, 0)} MiB (grew ${f(d.rssGrowthMiB, 0)} MiB during the delta) |`,
    `| arena | ${f(d.arenaMiB, 0)} MiB (${f(d.arenaInUseMiB, 1)} MiB in use) |`,
  ];
}

function importMarkdown(im) {
  return [
    `## import-diff, restore and clone of ${im.bytes / MiB} MiB (blocks of ${im.blockSize} B; load ${im.load})`,
    '',
    `Baseline: a plain sequential write of as many bytes to a new file, then one fdatasync: ${f(im.baselineMs, 0)} ms = ${f(im.baselineGBps)} GB/s.`,
    ...(im.floorMs === undefined ? [] : [
      `Floor of an import over blocks in use: a plain write of twice as many bytes, then one fdatasync: ${f(im.floorMs, 0)} ms `
      + `(a page-cache read of the bytes: ${f(im.readMs, 0)} ms more). Its writes as the import makes them (as many bytes over `
      + `a file in the page cache and as many to a new file, one fdatasync each): ${f(im.floorAsImportMs, 0)} ms. `
      + `Each run starts settled (sync, writes drained, ${QUICK ? '0.3' : '3'} s).`,
    ]),
    '',
    '| operation | ms | GB/s | / baseline (target >= 0.5) | / floor | / its writes alone |', '|---|---|---|---|---|---|',
    ...im.rows.map((row) => `| ${row.label} | ${f(row.ms, 0)} | ${f(row.gbps)} | ${f(row.ratio)} | `
      + `${row.floorRatio === undefined ? '' : f(row.floorRatio)} | ${row.asImportRatio === undefined ? '' : f(row.asImportRatio)} |`),
  ];
}

function markdownOf(r) {
  const parts = [
    [r.sections.export, exportMarkdown], [r.sections.writes, writesMarkdown],
    [r.sections.wideDelta, wideDeltaMarkdown], [r.sections.import, importMarkdown],
    [r.sections.nopWrite, nopWriteMarkdown],
  ];
  return [
    `# snapcopy volume benchmark (${r.mode}, ${r.kernels} kernels, node ${r.node})`,
    '',
    `load average at the start: ${r.loadStart}; at the end: ${r.loadEnd}`,
    ...parts.filter(([section]) => section).flatMap(([section, markdown]) => ['', ...markdown(section)]),
  ].join('\n');
}

try {
  const sections = [['export', exportSection], ['writes', writeSection], ['wide delta', wideDeltaSection], ['import', importSection],
    ['nop write', nopWriteSection]];
  // --only=export,import runs some sections (the report then shows only those).
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
  for (const [name, run] of sections) {
    if (only && !only.includes(name.split(' ')[0])) continue;
    const { ms } = await timed(run);
    console.error(`${name}: ${(ms / 1000).toFixed(1)} s (load ${load()})`);
  }
  results.loadEnd = load();
  const md = markdownOf(results);
  console.log(md);
  const name = only ? `volume-${MODE}-custom` : `volume-${MODE}`;
  mkdirSync(join(HERE, 'results'), { recursive: true });
  writeFileSync(join(HERE, 'results', `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(HERE, 'results', `${name}.md`), `${md}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
