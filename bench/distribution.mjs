// The distribution benchmark: one `snapcopy serve` node on 127.0.0.1 serving a volume's
// versions, and the two measurements of issue 11.
//
//   node bench/distribution.mjs [--quick] [--only=delta,concurrent] [--mib=N]
//   (npm run bench runs it last, with --quick passed through)
//
// 1. delta       DELTA bytes of changed blocks (1 GiB; quick 32 MiB, one contiguous write of
//                fresh seeded data over blocks already in use) checkpointed on the node, then
//                `snapcopy pull copy n1:src --json` timed (the client asks /update, the node
//                spools the delta stream and serves it as it grows, the client imports it as
//                it downloads, CLI process included), against the same delta as `snapcopy export-diff vol a b - |
//                snapcopy import-diff other -` (two local processes, each with its own data
//                directory; the pipe through bash -o pipefail). Both receivers keep the new
//                version as a checkpoint (pull makes one; `other` gets one after each import,
//                untimed). Target: pull >= 0.7 x the pipe's MB/s (medians of REPS runs,
//                alternating which goes first).
// 2. concurrent  CLIENTS (50) pulls at once against the node from one client process (the
//                library's pull, one data directory each): a third already up to date, a third
//                holding the version before (a delta of an eighth of the volume), a third
//                holding nothing (a full copy of VOLUME bytes: 64 MiB; quick 8 MiB). Reported:
//                the mix each got, aggregate MB/s (bytes downloaded / wall time from the first
//                request to the last import), per-pull seconds, and the node's peak resident
//                memory during the pulls (VmHWM of /proc/<pid>/status, reset through
//                /proc/<pid>/clear_refs just before them; VmRSS sampled every 20 ms as well).
//                Every client's volume is checked against the expected image (SHA-256).
//
// Everything lives in a temporary directory, deleted at the end with the node stopped, on
// failure too. Every random choice is seeded (SEED, printed). `cat /proc/loadavg` is recorded
// with each result: this is a shared 2-CPU machine.
// Results: bench/results/distribution-<quick|full>[-custom].{json,md}. SNAPCOPY_DIST_DIR runs
// another build (bench/lib/dist.mjs). A section that fails is reported as FAILED with its
// error, the other still runs, and the exit code is 1.

import { createHash } from 'node:crypto';
import { closeSync, cpSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { buildOf, DIST_URL, lib } from './lib/dist.mjs';
import { BIN, Children, HOST, cli, cpuSecondsOf, freePorts, loadavgLine, startNode } from './lib/nodes.mjs';
import { markdown, sig } from './lib/table.mjs';

const QUICK = process.argv.includes('--quick');
const ONLY_ARG = process.argv.find((a) => a.startsWith('--only='));
const MIB_ARG = process.argv.find((a) => a.startsWith('--mib='));
if (MIB_ARG && !/^--mib=[1-9]\d*$/.test(MIB_ARG)) throw new Error('--mib=N takes a positive whole number of MiB');
const SECTIONS = ONLY_ARG ? ONLY_ARG.slice('--only='.length).split(',') : ['delta', 'concurrent'];
if (SECTIONS.some((s) => !['delta', 'concurrent'].includes(s))) throw new Error('--only= takes a list of delta and concurrent');
const MODE = `${QUICK ? 'quick' : 'full'}${ONLY_ARG || MIB_ARG ? '-custom' : ''}`;
const SEED = 20261130;
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const DELTA = MIB_ARG ? Number(MIB_ARG.slice('--mib='.length)) * MiB : QUICK ? 32 * MiB : GiB;
const REPS = QUICK ? 1 : 3;
const CLIENTS = 50;
const VOLUME = QUICK ? 8 * MiB : 64 * MiB;
/** The part of the concurrent volume rewritten between its two versions. */
const CHANGED = VOLUME / 8;
const RSS_SAMPLE_MS = 20;
const TARGET = 0.7;
const HERE = dirname(fileURLToPath(import.meta.url));

const log = (line) => console.error(line);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mbps = (bytes, seconds) => bytes / seconds / 1e6;
const ms = (x) => (x === undefined ? '–' : String(Math.round(x)));

const work = mkdtempSync(join(tmpdir(), 'snapcopy-distribution-bench-'));
const kids = new Children();

/** Piece `n` (4 MiB) of the deterministic content of `seed` (xorshift32). */
function piece(seed, n) {
  const bytes = Buffer.allocUnsafe(4 * MiB);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  let x = (seed * 0x9e3779b1 + n * 0x85ebca6b) | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    words[i] = x;
  }
  return bytes;
}

/** A deterministic file of `bytes` bytes, made durable. */
function makeFile(path, bytes, seed) {
  const fd = openSync(path, 'w');
  try {
    for (let at = 0, n = 0; at < bytes; at += 4 * MiB, n++) writeSync(fd, piece(seed, n), 0, Math.min(4 * MiB, bytes - at));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** SHA-256 of files laid over each other from offset 0 (later ones win where they reach), `size` bytes in all. */
function layeredHash(size, layers) {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(4 * MiB);
  for (let at = 0; at < size; at += buffer.length) {
    const n = Math.min(buffer.length, size - at);
    buffer.fill(0, 0, n);
    for (const layer of layers) {
      if (layer.bytes <= at) continue;
      const fd = openSync(layer.path, 'r');
      try {
        readSync(fd, buffer, 0, Math.min(n, layer.bytes - at), at);
      } finally {
        closeSync(fd);
      }
    }
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest('hex');
}

async function volumeHash(dataDir, fs, size) {
  const dir = await lib.DataDir.open(dataDir);
  try {
    const volume = await dir.volume(fs);
    const hash = createHash('sha256');
    for (let at = 0; at < size; at += 4 * MiB) hash.update(await volume.read(at, Math.min(4 * MiB, size - at)));
    return hash.digest('hex');
  } finally {
    await dir.close();
  }
}

// ---------------------------------------------------------------------------------
// Set-up: one node.

async function startOneNode(dataName) {
  const [port] = await freePorts(1);
  const peers = { secret: 'distribution-bench-secret-0123456789', nodes: { n1: `${HOST}:${port}` } };
  const peersPath = join(work, 'peers.json');
  writeFileSync(peersPath, `${JSON.stringify(peers, null, 2)}\n`);
  const n1 = await startNode(kids, { name: 'n1', address: peers.nodes.n1, peersPath, dataDir: join(work, dataName) });
  const target = await lib.resolveNode('n1', { peersPath });
  return { n1, peersPath, source: (volume) => ({ kind: 'node', label: 'n1', address: target.address, volume, token: target.token }) };
}

/** `snapcopy --data a <left> | snapcopy --data b <right>`, timed around both processes. */
function pipe(dataA, left, dataB, right) {
  const q = (args) => args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const node = `'${process.execPath}' '${BIN}'`;
  const script = `${node} --data ${q([dataA])} ${q(left)} | ${node} --data ${q([dataB])} ${q(right)} > /dev/null`;
  return cli(kids, ['-o', 'pipefail', '-c', script], { program: 'bash', prefix: [] });
}

/**
 * Watches the node's stream spool every 10 ms: when the delta's temporary file appeared and
 * last grew (the node making the stream). The client keeps no file of the stream (a cut is
 * resumed inside its import), so its side is seen only in the total.
 */
function watchPull(spoolDir) {
  const seen = { spoolCreated: undefined, spoolDone: undefined };
  const sizeOf = (path) => {
    try {
      return statSync(path).size;
    } catch {
      return undefined;
    }
  };
  let spoolBytes = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    let temps = [];
    try {
      temps = readdirSync(spoolDir).filter((f) => f.endsWith('.tmp'));
    } catch { /* not made yet */ }
    for (const f of temps) {
      const size = sizeOf(join(spoolDir, f)) ?? 0;
      seen.spoolCreated ??= now;
      if (size > spoolBytes) {
        spoolBytes = size;
        seen.spoolDone = now;
      }
    }
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return seen;
    },
  };
}

// ---------------------------------------------------------------------------------
// 1. A delta pulled from the node against export-diff | import-diff.

async function deltaSection(env) {
  const { n1, peersPath } = env;
  const node = (...args) => cli(kids, ['--peers', peersPath, '--node', 'n1', ...args]);
  const client = join(work, 'client');
  const pullCopy = () => cli(kids, ['--peers', peersPath, '--data', client, 'pull', 'copy', 'n1:src', '--json']);
  const dataA = join(work, 'pipe-a');
  const dataB = join(work, 'pipe-b');
  const local = (data, ...args) => cli(kids, ['--data', data, ...args]);
  const volSize = `${(2 * DELTA) / MiB}M`;
  const file = (k) => join(work, `delta-${k}.bin`);

  log(`delta: ${DELTA / MiB} MiB, ${REPS} repetition(s); set-up (first copies)`);
  makeFile(file(0), DELTA, SEED);
  await node('create', 'src', '--size', volSize);
  await node('write', 'src', file(0));
  await node('ckpt', 'create', 'src@c0');
  const first = JSON.parse((await pullCopy()).out);
  if (first.result !== 'full') throw new Error(`the first pull was ${first.result}, not a full copy`);
  await local(dataA, 'create', 'vol', '--size', volSize);
  await local(dataA, 'write', 'vol', file(0));
  await local(dataA, 'ckpt', 'create', 'vol@c0');
  await pipe(dataA, ['export-diff', 'vol@c0', '-'], dataB, ['import-diff', 'other', '-']);
  await local(dataB, 'ckpt', 'create', 'other@c0');
  rmSync(file(0));

  const runs = [];
  for (let k = 1; k <= REPS; k++) {
    makeFile(file(k), DELTA, SEED + k);
    const order = k % 2 === 1 ? ['pull', 'pipe'] : ['pipe', 'pull'];
    for (const which of order) {
      if (which === 'pull') {
        await node('write', 'src', file(k));
        await node('ckpt', 'create', `src@c${k}`);
        const cpu0 = cpuSecondsOf(n1.child.pid);
        const load = loadavgLine();
        const watch = watchPull(join(n1.dataDir, 'node', 'versions-cache'));
        const t0 = performance.now();
        const { out, seconds } = await pullCopy();
        const seen = watch.stop();
        const cpu = cpuSecondsOf(n1.child.pid) - cpu0;
        // Milliseconds from the start of the CLI process to the node's first stream byte and to
        // the stream made (the rest is the client's import, its checkpoint and the exit).
        const phases = {
          toSpoolMs: seen.spoolCreated === undefined ? undefined : seen.spoolCreated - t0,
          spoolDoneMs: seen.spoolDone === undefined ? undefined : seen.spoolDone - t0,
        };
        const outcome = JSON.parse(out);
        if (outcome.result !== 'delta') throw new Error(`pull ${k} was ${outcome.result}, not a delta`);
        runs.push({ rep: k, case: 'pull', seconds, mbps: mbps(DELTA, seconds), load, streamBytes: outcome.bytes, pullSeconds: outcome.seconds, nodeCpu: cpu, phases });
        log(`rep ${k}: pull ${sig(seconds)} s (${sig(mbps(DELTA, seconds))} MB/s, ${outcome.bytes} stream bytes, node CPU ${sig(cpu)} s; `
          + `stream made ${Math.round(phases.toSpoolMs)}..${Math.round(phases.spoolDoneMs)} ms); load ${load}`);
        await node('ckpt', 'delete', `src@c${k - 1}`);
      } else {
        await local(dataA, 'write', 'vol', file(k));
        await local(dataA, 'ckpt', 'create', `vol@c${k}`);
        const load = loadavgLine();
        const { seconds } = await pipe(dataA, ['export-diff', 'vol', `c${k - 1}`, `c${k}`, '-'], dataB, ['import-diff', 'other', '-']);
        await local(dataB, 'ckpt', 'create', `other@c${k}`);
        await local(dataB, 'ckpt', 'delete', `other@c${k - 1}`);
        await local(dataA, 'ckpt', 'delete', `vol@c${k - 1}`);
        runs.push({ rep: k, case: 'pipe', seconds, mbps: mbps(DELTA, seconds), load });
        log(`rep ${k}: pipe ${sig(seconds)} s (${sig(mbps(DELTA, seconds))} MB/s); load ${load}`);
      }
    }
    rmSync(file(k));
  }
  const [got, want] = await Promise.all([volumeHash(client, 'copy', 2 * DELTA), volumeHash(dataB, 'other', 2 * DELTA)]);
  if (got !== want) throw new Error('after the runs, the pulled copy differs from the piped one');
  await node('destroy', 'src', '--recursive').catch(() => undefined);
  for (const dir of [client, dataA, dataB]) rmSync(dir, { recursive: true, force: true });

  const of = (c) => runs.filter((r) => r.case === c);
  const summary = { pullSeconds: median(of('pull').map((r) => r.seconds)), pipeSeconds: median(of('pipe').map((r) => r.seconds)) };
  summary.pullMBps = mbps(DELTA, summary.pullSeconds);
  summary.pipeMBps = mbps(DELTA, summary.pipeSeconds);
  summary.ratio = summary.pipeSeconds / summary.pullSeconds;
  summary.pass = summary.ratio >= TARGET;
  return { bytes: DELTA, reps: REPS, runs, summary };
}

// ---------------------------------------------------------------------------------
// 2. Many clients at once.

/** Peak resident memory of `pid` in bytes (VmHWM), or undefined. */
function peakRss(pid) {
  return statusField(pid, 'VmHWM');
}

function statusField(pid, field) {
  try {
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Resets the kernel's peak RSS of `pid` to its current RSS (Linux 4.0+); whether it could. */
function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

async function concurrentSection(env) {
  const { n1, peersPath, source } = env;
  const node = (...args) => cli(kids, ['--peers', peersPath, '--node', 'n1', ...args]);
  const whole = join(work, 'whole.bin');
  const part = join(work, 'part.bin');
  makeFile(whole, VOLUME, SEED + 100);
  makeFile(part, CHANGED, SEED + 101);
  log(`concurrent: ${CLIENTS} clients, volume ${VOLUME / MiB} MiB, delta ${CHANGED / MiB} MiB; set-up`);
  await node('create', 'dist', '--size', `${VOLUME / MiB}M`);
  await node('write', 'dist', whole);
  await node('ckpt', 'create', 'dist@v1');
  await node('write', 'dist', part);
  await node('ckpt', 'create', 'dist@v2');
  const want = layeredHash(VOLUME, [{ path: whole, bytes: VOLUME }, { path: part, bytes: CHANGED }]);
  rmSync(whole);
  rmSync(part);

  // Two reference clients (one at v1, one at v2), copied to make the others' starting points.
  const ref = async (version) => {
    const path = join(work, `ref-${version}`);
    const dir = await lib.DataDir.open(path);
    try {
      await lib.pull(dir, 'copy', source('dist'), { version });
    } finally {
      await dir.close();
    }
    return path;
  };
  const refs = { v1: await ref('v1'), v2: await ref('v2') };
  const expected = [];
  const paths = [];
  for (let i = 0; i < CLIENTS; i++) {
    const path = join(work, `client-${i}`);
    const kind = ['up-to-date', 'delta', 'full'][i % 3];
    if (kind === 'up-to-date') cpSync(refs.v2, path, { recursive: true });
    else if (kind === 'delta') cpSync(refs.v1, path, { recursive: true });
    paths.push(path);
    expected.push(kind);
  }
  const dirs = await Promise.all(paths.map((p) => lib.DataDir.open(p)));

  const pid = n1.child.pid;
  const reset = resetPeakRss(pid);
  const before = { rss: statusField(pid, 'VmRSS'), peak: peakRss(pid) };
  let sampledPeak = 0;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, statusField(pid, 'VmRSS') ?? 0);
  }, RSS_SAMPLE_MS);
  const cpu0 = cpuSecondsOf(pid);
  const load = loadavgLine();
  const t0 = performance.now();
  const outcomes = await Promise.all(dirs.map(async (dir) => {
    const started = performance.now();
    const outcome = await lib.pull(dir, 'copy', source('dist'));
    return { ...outcome, ms: performance.now() - started };
  }));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const nodeCpu = cpuSecondsOf(pid) - cpu0;
  const peak = peakRss(pid);
  await Promise.all(dirs.map((d) => d.close()));

  const wrong = outcomes.map((o, i) => (o.result === expected[i] ? undefined : `client ${i}: ${o.result}, expected ${expected[i]}`)).filter(Boolean);
  if (wrong.length > 0) throw new Error(`unexpected results: ${wrong.join('; ')}`);
  for (let i = 0; i < CLIENTS; i++) {
    if (await volumeHash(paths[i], 'copy', VOLUME) !== want) throw new Error(`client ${i}'s copy is not the expected image`);
  }
  for (const p of [...paths, refs.v1, refs.v2]) rmSync(p, { recursive: true, force: true });
  await node('destroy', 'dist', '--recursive').catch(() => undefined);

  const bytes = outcomes.reduce((a, o) => a + o.bytes, 0);
  const byKind = (kind) => outcomes.filter((o) => o.result === kind);
  const kinds = Object.fromEntries(['up-to-date', 'delta', 'full'].map((k) => [k, {
    count: byKind(k).length, bytes: byKind(k).reduce((a, o) => a + o.bytes, 0), medianMs: median(byKind(k).map((o) => o.ms)), maxMs: Math.max(...byKind(k).map((o) => o.ms)),
  }]));
  return {
    clients: CLIENTS, volumeBytes: VOLUME, changedBytes: CHANGED, seconds, bytes, mbps: mbps(bytes, seconds), kinds, nodeCpu, load,
    memory: { resetWorked: reset, rssBefore: before.rss, peakBefore: before.peak, peak, sampledPeak },
  };
}

// ---------------------------------------------------------------------------------
// The report.

function markdownOf(r) {
  const d = r.delta;
  const c = r.concurrent;
  const lines = [
    `# snapcopy distribution benchmark (${r.mode}, node ${r.node})`,
    '',
    `One \`snapcopy serve\` node on 127.0.0.1 serving a volume's versions, ${r.nproc} CPUs shared with other work: `
      + `other people run tests on this machine, so each result carries \`cat /proc/loadavg\` taken with it. `
      + `Load at the start: \`${r.loadStart}\`; at the end: \`${r.loadEnd}\`. Seed ${SEED}. `
      + `Build: ${r.build.dist === 'dist/ of the working tree' ? r.build.dist : 'a separate build'} of commit ${r.build.commit.slice(0, 10)}.`,
    '',
    '## Targets',
    '',
    markdown(['target', 'measured', 'result'], [
      ...(d ? [[`pull of a delta of ${sig(d.bytes / MiB)} MiB from a node ≥ ${TARGET} × \`export-diff \\| import-diff\` through a pipe`,
        `${sig(d.summary.pullMBps)} MB/s against ${sig(d.summary.pipeMBps)} MB/s: ${d.summary.ratio.toFixed(2)} ×`, d.summary.pass ? 'PASS' : 'MISS']] : []),
      ...(c ? [[`${c.clients} concurrent pulls (${c.kinds.full.count} full of ${sig(c.volumeBytes / MiB)} MiB, ${c.kinds.delta.count} deltas of ${sig(c.changedBytes / MiB)} MiB, ${c.kinds['up-to-date'].count} up to date)`,
        `${sig(c.mbps)} MB/s aggregate in ${sig(c.seconds)} s; node peak RSS ${sig(c.memory.peak / MiB)} MiB`, 'reported']] : []),
      ...Object.entries(r.errors ?? {}).map(([name, e]) => [`${name}`, `failed: ${e.message} (load \`${e.load}\`)`, 'FAILED']),
    ], ['l', 'l', 'l']),
  ];
  if (d) {
    lines.push('', `## 1. A delta pulled from a node (${sig(d.bytes / MiB)} MiB changed, ${d.reps} repetition${d.reps > 1 ? 's' : ''}, medians)`, '',
      markdown(['rep', 'case', 'seconds', 'MB/s', 'stream bytes', 'stream made (ms from start)', 'node CPU s', 'load'], d.runs.map((x) => [
        String(x.rep), x.case, sig(x.seconds), sig(x.mbps), x.streamBytes === undefined ? '–' : String(x.streamBytes),
        x.phases ? `${ms(x.phases.toSpoolMs)} → ${ms(x.phases.spoolDoneMs)}` : '–',
        x.nodeCpu === undefined ? '–' : sig(x.nodeCpu), `\`${x.load}\``,
      ]), ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'l']),
      '',
      '- **seconds**: wall time around the CLI process (`snapcopy pull copy n1:src --json`; for the pipe, around `bash -o pipefail -c "snapcopy export-diff … - | snapcopy import-diff other -"`); process start-up is in both.',
      '- **MB/s**: changed bytes (10^6 B) / seconds. **stream bytes**: what the pull downloaded (the delta stream: data plus its records).',
      '- **stream made**: the node\'s spool file for the delta (`<data>/node/versions-cache/*.tmp`), from its creation to its last growth, in ms from the start of the pull process (polled every 10 ms). The client imports the stream as it downloads and keeps no file of it.',
      '- **node CPU s**: user + system CPU of the node during the pull (/proc): the update decision, the delta scan and the stream it serves.');
  }
  if (c) {
    const m = c.memory;
    lines.push('', `## 2. ${c.clients} pulls at once`, '',
      markdown(['result', 'clients', 'bytes', 'median s', 'max s'], ['full', 'delta', 'up-to-date'].map((k) => [
        k, String(c.kinds[k].count), String(c.kinds[k].bytes), sig(c.kinds[k].medianMs / 1000), sig(c.kinds[k].maxMs / 1000),
      ]), ['l', 'r', 'r', 'r', 'r']),
      '',
      `All ${c.clients} started together; the last finished after ${sig(c.seconds)} s: ${sig(c.bytes / MiB)} MiB downloaded, ${sig(c.mbps)} MB/s aggregate. `
        + `Node CPU ${sig(c.nodeCpu)} s. Load \`${c.load}\` at the start.`,
      '',
      `Node memory: resident ${sig(m.rssBefore / MiB)} MiB before; peak during the pulls ${sig(m.peak / MiB)} MiB (VmHWM${m.resetWorked ? ', reset just before them' : ', not resettable here: the peak since the node started'}), `
        + `${sig(m.sampledPeak / MiB)} MiB sampled every ${RSS_SAMPLE_MS} ms.`,
      '',
      '- The clients are one process (the library\'s `pull`, one data directory each), so on this 2-CPU machine they compete with the node for CPU: the aggregate is what the machine does, not the node alone.',
      '- Every client\'s volume is checked afterwards against the expected image (SHA-256 of the data written).');
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------


async function main() {
  if (!existsSync(new URL('index.js', DIST_URL))) throw new Error(`${DIST_URL.pathname} has no build: run npm run build first`);
  const fsStat = statfsSync(work);
  const free = fsStat.bavail * fsStat.bsize;
  const need = 12 * DELTA + CLIENTS * VOLUME * 2 + GiB;
  if (free < need) throw new Error(`${work}: ${sig(free / GiB)} GiB free, the benchmark needs ${sig(need / GiB)} GiB`);
  const results = { mode: MODE, build: buildOf(), node: process.versions.node, nproc: (await import('node:os')).cpus().length, date: new Date().toISOString(), seed: SEED, loadStart: loadavgLine() };
  log(`distribution bench (${MODE}) in ${work}, seed ${SEED}`);
  results.errors = {};
  // A section that fails is reported as such, and the other still runs.
  const run = async (name, fn) => {
    try {
      return await fn();
    } catch (error) {
      log(`${name}: ${error.stack ?? error.message}`);
      results.errors[name] = { message: error.message, load: loadavgLine() };
      return undefined;
    }
  };
  const env = await startOneNode('n1');
  if (SECTIONS.includes('delta')) results.delta = await run('delta', () => deltaSection(env));
  if (SECTIONS.includes('concurrent')) {
    // A node of its own, so its peak memory is the pulls' even where the peak cannot be reset.
    await kids.stopAll();
    kids.stopping = false;
    const fresh = await startOneNode('n1-concurrent');
    results.concurrent = await run('concurrent', () => concurrentSection(fresh));
  }
  results.loadEnd = loadavgLine();
  return results;
}

let failed = false;
const onSignal = (signal) => {
  log(`${signal}: stopping the child processes`);
  kids.stopAll().finally(() => {
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
try {
  const results = await main();
  const md = markdownOf(results);
  console.log(md);
  mkdirSync(join(HERE, 'results'), { recursive: true });
  writeFileSync(join(HERE, 'results', `distribution-${MODE}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(HERE, 'results', `distribution-${MODE}.md`), `${md}\n`);
  failed = Object.keys(results.errors).length > 0;
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await kids.stopAll();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
