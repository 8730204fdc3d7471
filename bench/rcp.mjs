// The RCP benchmark: rcptest of one file over loopback, against a plain TCP socket copy
// of the same bytes measured in the same run.
//
//   node bench/rcp.mjs [--quick] [--reps=N] [--mib=N] [--cases=A,B,tree] [--cpu-prof[=DIR]]
//   (npm run bench runs it last, with --quick passed through)
//
// Cases, each run in turn (baseline, A, B, tree, baseline, A, B, tree, ...), medians reported:
//   baseline  bench/lib/tcp-copy.mjs: sender process -> socket -> receiver process -> file, fsync
//   A         rcptest o -> d                       (one destination)
//   F         the same, the file read by node o itself (the library's sendFile in the node, as
//             replication sends its staged sets), not uploaded to it over HTTP by the CLI first
//   B         rcptest o -> f1, f2; f1 -> l1, l2; f2 -> l3, l4   (4 leaves through 2 forwarders)
//   tree      context, no target: the plain TCP copy in B's shape (sender -> 2 relays -> 4 receivers)
// Targets (the issue): RCP to one destination (A, F) >= 0.8 x baseline throughput (issue 12; 0.7 before),
// B >= 0.5 x baseline throughput. Node o runs bench/lib/rcp-origin-node.mjs (serve, plus F's sends).
//
// Full: a 1 GiB file, 5 repetitions. --quick: 32 MiB, 1 repetition (proves it works).
// The file is made from a seeded generator in a temporary directory and deleted at the
// end, with the nodes' data directories. Every node is a `snapcopy serve` child process
// on 127.0.0.1, started once for the whole run (8 processes: o, d, f1, f2, l1-l4; the
// ones a case does not use sit idle), and stopped with SIGTERM at the end, on failure
// too. An untimed rcptest per case first opens the links and warms the nodes (256 MiB; 4 MiB in quick mode).
//
// --cpu-prof runs the nodes under `node --cpu-prof` and adds, per node, the functions
// with the most self time during the timed runs of the cases it takes part in;
// the .cpuprofile files stay in DIR when given. Its results go to rcp-<mode>-cpuprof.*,
// since profiling slows the nodes down. --mib, --reps and --cases (any subset of A, B and
// tree; the baseline always runs) make a -custom run, so as not to overwrite the standard ones.
// Results go to bench/results/rcp-<quick|full>[-custom][-cpuprof].{json,md}.

import { spawn, execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { markdown, sig } from './lib/table.mjs';
import { tcpCopy } from './lib/tcp-copy.mjs';

const QUICK = process.argv.includes('--quick');
const argValue = (name) => process.argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
const numberArg = (name, fallback) => {
  const arg = argValue(name);
  if (!arg) return fallback;
  const n = Number(arg.split('=')[1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}=N needs a positive integer`);
  return n;
};
const PROF_ARG = argValue('cpu-prof');
const PROFILE = PROF_ARG !== undefined;
const CUSTOM = ['mib', 'reps', 'cases'].some((name) => argValue(name) !== undefined);
const MODE = `${QUICK ? 'quick' : 'full'}${CUSTOM ? '-custom' : ''}${PROFILE ? '-cpuprof' : ''}`;
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const SIZE = numberArg('mib', QUICK ? 32 : 1024) * MiB;
const REPS = numberArg('reps', QUICK ? 1 : 5);
/** Untimed first session per case: opens the links and warms the nodes (JIT, frame pools), as a long-running node is. */
const WARMUP_SIZE = QUICK ? 4 * MiB : 256 * MiB;
const RUN_CASES = (argValue('cases')?.split('=')[1] ?? 'A,F,B,tree').split(',');
if (RUN_CASES.some((k) => !['A', 'F', 'B', 'tree'].includes(k))) throw new Error('--cases= takes a list of A, F, B and tree');
const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = join(HERE, '..', 'bin', 'snapcopy.mjs');
const HOST = '127.0.0.1';
const READY_MS = 30_000;
const STOP_MS = 15_000;
/** No CLI call should take longer (a 1 GiB case B takes tens of seconds on the 2-CPU machine). */
const CLI_TIMEOUT_MS = 15 * 60_000;
const FILE_NAME = 'rcp-bench.bin';

const CASES = {
  baseline: { label: 'baseline: plain TCP copy', processes: 2 },
  A: { label: 'A: rcptest o → d', group: 'gA', leaves: ['d'], nodes: ['o', 'd'], processes: 2, target: 0.8 },
  F: { label: 'F: o sends its own file → d', group: 'gA', leaves: ['d'], nodes: ['o', 'd'], processes: 2, target: 0.8, atNode: true },
  B: { label: 'B: rcptest o → f1, f2 → l1-l4', group: 'gB', leaves: ['l1', 'l2', 'l3', 'l4'], nodes: ['o', 'f1', 'f2', 'l1', 'l2', 'l3', 'l4'], processes: 7, target: 0.5 },
  tree: { label: 'tree: plain TCP, B\'s shape (context)', processes: 7 },
};
/** The plain TCP copy in case B's shape: the sender, two relays, four receivers. */
const TREE = (dir) => ['r1', 'r2'].map((relay, i) => ({
  name: relay,
  children: [`l${2 * i + 1}`, `l${2 * i + 2}`].map((leaf) => ({ name: leaf, out: join(dir, `tree-${leaf}.out`) })),
}));
const ROUTES = [
  ['o', 'gA', 'd'], ['d', 'gA', 'd'],
  ['o', 'gB', 'f1'], ['o', 'gB', 'f2'],
  ['f1', 'gB', 'l1'], ['f1', 'gB', 'l2'], ['f2', 'gB', 'l3'], ['f2', 'gB', 'l4'],
  ['l1', 'gB', 'l1'], ['l2', 'gB', 'l2'], ['l3', 'gB', 'l3'], ['l4', 'gB', 'l4'],
];
const NODE_NAMES = ['o', 'd', 'f1', 'f2', 'l1', 'l2', 'l3', 'l4'];

const work = mkdtempSync(join(tmpdir(), 'snapcopy-rcp-bench-'));
const profDir = PROFILE ? resolve(PROF_ARG.includes('=') ? PROF_ARG.split('=')[1] : join(work, 'cpuprof')) : undefined;
/** Every child process still running, stopped in `cleanup`. */
const children = new Set();

const log = (line) => console.error(line);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const gbps = (bytes, seconds) => bytes / seconds / 1e9;

function machine() {
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch { /* os.cpus() it is */ }
  return { nproc, cpuModel: cpus()[0]?.model ?? '?', node: process.versions.node, kernel: release(), platform: process.platform };
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A process's { user, system } CPU seconds and page faults so far, from /proc (undefined where there is none). */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / CLK_TCK, system: Number(fields[12]) / CLK_TCK, faults: Number(fields[7]) + Number(fields[9]) };
  } catch {
    return undefined;
  }
}

/** A deterministic file of `bytes` bytes (xorshift32, one seed per 4 MiB piece), made durable. */
function makeFile(path, bytes, seed) {
  const piece = Buffer.allocUnsafe(4 * MiB);
  const words = new Uint32Array(piece.buffer, piece.byteOffset, piece.length >>> 2);
  const fd = openSync(path, 'w');
  try {
    for (let at = 0, n = 0; at < bytes; at += piece.length, n++) {
      let x = (seed * 0x9e3779b1 + n * 0x85ebca6b) | 1;
      for (let i = 0; i < words.length; i++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        words[i] = x;
      }
      writeSync(fd, piece, 0, Math.min(piece.length, bytes - at));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** `count` TCP ports that were free on 127.0.0.1 a moment ago (all held until all are chosen). */
async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise((ok, fail) => {
        server.once('error', fail);
        server.listen({ host: HOST, port: 0, exclusive: true }, ok);
      });
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((ok) => s.close(() => ok()))));
  }
}

function track(child) {
  children.add(child);
  child.on('close', () => children.delete(child));
  return child;
}

/** Runs the snapcopy CLI; resolves with its stdout and wall time, rejects on a non-zero exit. */
function cli(args) {
  return new Promise((ok, fail) => {
    const t = performance.now();
    const child = track(spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s) => { out += s; });
    child.stderr.setEncoding('utf8').on('data', (s) => { err += s; });
    const timer = setTimeout(() => child.kill('SIGTERM'), CLI_TIMEOUT_MS);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallSeconds = (performance.now() - t) / 1000;
      if (code === 0) ok({ out, wallSeconds });
      else fail(new Error(`snapcopy ${args.join(' ')} exited with ${signal ?? code}: ${err.trim() || out.trim()}`));
    });
  });
}

/**
 * Starts one `snapcopy serve` (the origin: bench/lib/rcp-origin-node.mjs, which also sends
 * files it is told of on stdin) and resolves once it prints its "listening on" line.
 */
function startNode(name, address, peersPath, dataDir) {
  const nodeArgs = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
  const program = name === 'o'
    ? [join(HERE, 'lib', 'rcp-origin-node.mjs'), name, address, peersPath, dataDir]
    : [BIN, 'serve', '--name', name, '--listen', address, '--peers', peersPath, '--data', dataDir];
  const child = track(spawn(process.execPath, [...nodeArgs, ...program], { stdio: [name === 'o' ? 'pipe' : 'ignore', 'pipe', 'pipe'] }));
  const node = { name, address, dataDir, child, stderr: '', waiting: [] };
  child.stdout.on('data', (s) => {
    node.out = (node.out ?? '') + s;
    for (let nl = node.out.indexOf('\n'); nl >= 0; nl = node.out.indexOf('\n')) {
      const line = node.out.slice(0, nl);
      node.out = node.out.slice(nl + 1);
      if (node.ready && line.startsWith('{')) node.waiting.shift()?.(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (s) => {
    node.stderr = (node.stderr + s).slice(-4000);
  });
  return new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`node ${name} did not start within ${READY_MS} ms: ${node.stderr.trim()}`)), READY_MS);
    child.stdout.setEncoding('utf8').on('data', (s) => {
      out += s;
      if (!node.ready && out.includes(`snapcopy node ${name} listening on`)) {
        node.ready = true;
        clearTimeout(timer);
        ok(node);
      }
    });
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      node.exited = signal ?? code;
      if (!node.ready) fail(new Error(`node ${name} exited with ${signal ?? code} before it was ready: ${node.stderr.trim()}`));
      else if (!stopping) log(`node ${name} exited with ${signal ?? code} during the run: ${node.stderr.trim()}`);
    });
  });
}

let stopping = false;

/** SIGTERM to every child still running, SIGKILL to those still there after STOP_MS. */
async function cleanup() {
  stopping = true;
  const running = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  const closed = running.map((c) => new Promise((ok) => {
    if (c.exitCode !== null || c.signalCode !== null) ok();
    else c.once('close', ok);
  }));
  for (const c of running) c.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }, STOP_MS);
  await Promise.all(closed);
  clearTimeout(timer);
}

/** Node o sends a file it reads itself (case F): its result line, and the time around it. */
function sendAtNode(origin, file, group) {
  const t = performance.now();
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`node o did not answer a send within ${CLI_TIMEOUT_MS} ms`)), CLI_TIMEOUT_MS);
    origin.waiting.push((line) => {
      clearTimeout(timer);
      const result = JSON.parse(line);
      if (result.error) fail(new Error(`node o: ${result.error}`));
      else ok({ out: line, wallSeconds: (performance.now() - t) / 1000 });
    });
    origin.child.stdin.write(`${JSON.stringify({ path: file, group })}\n`);
  });
}

/** One rcptest, checked (every destination ok, every file whole) and its files deleted; its seconds, wall time and the nodes' CPU. */
async function rcptest(nodes, which, file, size) {
  const c = CASES[which];
  const cpu0 = c.nodes.map((n) => cpuOf(nodes[n].child.pid));
  const { out, wallSeconds } = c.atNode
    ? await sendAtNode(nodes.o, file, c.group)
    : await cli(['--peers', join(work, 'peers.json'), '--node', 'o', 'rcptest', `data=${file}`, `group=${c.group}`, '--json']);
  const cpu1 = c.nodes.map((n) => cpuOf(nodes[n].child.pid));
  const gone = c.nodes.filter((n) => nodes[n].exited !== undefined);
  if (gone.length) throw new Error(`case ${which}: node(s) ${gone.join(', ')} exited during the run`);
  const result = JSON.parse(out);
  const names = Object.keys(result.destinations).sort();
  if (names.join() !== [...c.leaves].sort().join()) throw new Error(`case ${which}: destinations ${names.join(', ')}, expected ${c.leaves.join(', ')}`);
  for (const [name, d] of Object.entries(result.destinations)) {
    if (d.status !== 'ok') throw new Error(`case ${which}: destination ${name} ${d.status}: ${d.error ?? ''}`);
  }
  if (result.bytes !== size) throw new Error(`case ${which}: rcptest sent ${result.bytes} bytes, the file has ${size}`);
  const base = basename(file);
  for (const leaf of c.leaves) {
    const path = join(nodes[leaf].dataDir, 'rcptest', base);
    const got = statSync(path).size;
    if (got !== size) throw new Error(`case ${which}: ${path} has ${got} bytes, expected ${size}`);
    rmSync(path);
  }
  const cpu = Object.fromEntries(c.nodes.map((n, i) => [n, cpu1[i] && cpu0[i]
    ? { user: cpu1[i].user - cpu0[i].user, system: cpu1[i].system - cpu0[i].system, faults: cpu1[i].faults - cpu0[i].faults }
    : undefined]));
  const cpuSeconds = Object.values(cpu).every(Boolean) ? Object.values(cpu).reduce((sum, x) => sum + x.user + x.system, 0) : undefined;
  const resent = (result.hops ?? []).reduce((sum, h) => sum + (h.stats?.resent ?? 0), 0);
  return { seconds: result.seconds, wallSeconds, cpuSeconds, cpu, ...(result.hops ? { resentFrames: resent } : {}) };
}

// ---------------------------------------------------------------------------------
// CPU profiles: self time per function.

/** Now on the clock of V8's profiles (CLOCK_MONOTONIC), in microseconds. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * The top `limit` functions by self time in one .cpuprofile, counting only the samples
 * inside `windows` ([{ from, to }] in µs, the timed runs), with shares of the busy
 * (non-idle) time. A native function (no script) is named with its caller, since the
 * same binding serves several callers (writeBuffer: fs.writeSync and socket writes).
 * Sampled time is wall time on the main thread: a blocking call or a process waiting
 * for a CPU counts where it stands.
 */
function summarizeProfile(path, windows, limit = 15) {
  const profile = JSON.parse(readFileSync(path, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id);
  const selfUs = new Map();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (!windows.some((w) => at >= w.from && at <= w.to)) continue;
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const where = (frame) => {
    const url = frame.url ? frame.url.replace(/^file:\/\/.*?\/(dist|node_modules|bin)\//, '$1/') : '';
    return `${frame.functionName || '(anonymous)'}${url ? ` ${url}:${frame.lineNumber + 1}` : ''}`;
  };
  const byFunction = new Map();
  let busyUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id).callFrame;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    let key = where(frame);
    const parent = byId.get(parentOf.get(id));
    if (!frame.url && !frame.functionName.startsWith('(') && parent) key += ` ← ${where(parent.callFrame)}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const top = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, limit)
    .map(([fn, us]) => ({ function: fn, selfMs: us / 1000, busyShare: us / busyUs }));
  return { busyMs: busyUs / 1000, idleMs: idleUs / 1000, top };
}

// ---------------------------------------------------------------------------------
// The report.

const faults = (n) => (n >= 1e4 ? `${Math.round(n / 1000)}k` : String(n));

function markdownOf(r) {
  const m = r.machine;
  const lines = [
    `# snapcopy RCP benchmark (${r.mode}, node ${m.node})`,
    '',
    `Machine: ${m.nproc} CPUs (nproc; ${m.cpuModel}), Linux ${m.kernel}, node ${m.node}. `
      + `Load average ${r.loadBefore.map((x) => x.toFixed(2)).join(' ')} at the start, ${r.loadAfter.map((x) => x.toFixed(2)).join(' ')} at the end. `
      + `File: ${sig(r.bytes / MiB)} MiB, ${r.reps} repetition${r.reps > 1 ? 's' : ''} of ${Object.keys(r.summary).join(', ')} in turn; medians.`,
    '',
    '## Targets',
    '',
    markdown(['target', 'measured', 'result'], ['A', 'F', 'B'].filter((k) => r.summary[k]).map((k) => {
      const s = r.summary[k];
      return [`${CASES[k].label} ≥ ${CASES[k].target} × the plain TCP copy's throughput`, `${s.ratio.toFixed(2)} × (wall: ${s.wallRatio.toFixed(2)} ×)`, s.pass ? 'PASS' : 'MISS'];
    }), ['l', 'r', 'l']),
    '',
    ...(r.summary.tree ? [
      `Context: the plain TCP tree of B's shape (same 7 processes, no protocol) reaches ${r.summary.tree.ratio.toFixed(2)} × the plain copy `
        + `on this machine${r.summary.B ? `; B reaches ${(r.summary.tree.seconds / r.summary.B.seconds).toFixed(2)} × the plain tree` : ''}.`,
      '',
    ] : []),
    '## Medians',
    '',
    markdown(
      ['case', 'processes', 'seconds', 'GB/s', '× baseline', 'wall s', 'wall GB/s', 'wall × baseline', 'CPU s'],
      Object.keys(r.summary).map((k) => {
        const s = r.summary[k];
        return [CASES[k].label, String(CASES[k].processes), sig(s.seconds), sig(s.gbps), k === 'baseline' ? '1' : s.ratio.toFixed(2), sig(s.wallSeconds), sig(s.wallGbps),
          k === 'baseline' ? '1' : s.wallRatio.toFixed(2), s.cpuSeconds === undefined ? '–' : sig(s.cpuSeconds)];
      }),
    ),
    '',
    '## Every run',
    '',
    markdown(['rep', 'case', 'seconds', 'GB/s', 'wall s', 'CPU s', 'CPU s per process: user + system (page faults)'], r.runs.map((x) => [
      String(x.rep + 1), x.case, sig(x.seconds), sig(gbps(r.bytes, x.seconds)), sig(x.wallSeconds),
      x.cpuSeconds === undefined ? '–' : sig(x.cpuSeconds),
      Object.entries(x.cpu).map(([n, c]) => `${n} ${c ? `${c.user.toFixed(2)} + ${c.system.toFixed(2)} (${faults(c.faults)})` : '–'}`).join(', ')
        + (x.fsyncSeconds === undefined ? '' : `; fsync ${sig(x.fsyncSeconds)} s`),
    ]), ['r', 'l', 'r', 'r', 'r', 'r', 'l']),
    '',
    '- **seconds**: rcptest\'s own time, measured in the origin node from the first byte read to the last',
    '  destination\'s acknowledgement of the end (after it fsynced the file). Baseline: in the sender,',
    '  from just before the first read to the receiver\'s one-byte answer, sent after its fsync.',
    '- **wall s**: around the `snapcopy rcptest` CLI process (its start-up and the HTTP call included);',
    '  F: around the request to node o; baseline and tree: around the sender process (the others are',
    '  already listening).',
    '- F: node o reads the file itself (the library\'s sendFile, as an application in a node sends what',
    '  it staged); A: the CLI uploads it to node o over HTTP, which sends it on as it arrives.',
    '- **GB/s**: file bytes / seconds (10^9 B/s), once per file however many destinations.',
    '- **× baseline**: the case\'s throughput / the baseline\'s, medians of the same run.',
    '- **CPU s**: user + system CPU of the processes of the case during the run (nodes: /proc deltas',
    '  around the CLI call; baseline and tree: each process from its connection on). On this machine',
    `  the ceiling is ${m.nproc} CPU s per second. Page faults: minor + major, over the same span.`,
    '- Baseline: bench/lib/tcp-copy.mjs, the sender fs.readSync()s into 8 reused 256 KiB buffers and',
    '  socket.write()s them; the receiver fs.writeSync()s every chunk; fsync at the end. No checksum,',
    '  no framing (RCP also checksums every frame at the origin and at each destination).',
    '- tree: the same programs in B\'s shape: the sender writes each buffer to two relays, each relay',
    '  writes every chunk it receives to two receivers and answers once both have; timed to the last',
    '  answer. It is not a target, it shows what this machine allows for B\'s shape without RCP.',
    '- Nodes live for the whole run (8 `snapcopy serve` processes; the ones a case does not use are idle);',
    `  an untimed rcptest of ${WARMUP_SIZE / MiB} MiB per case opened the links and warmed the nodes first.`,
  ];
  if (r.profiles) {
    lines.push('', '## CPU profiles (self time during the timed runs of the cases each node takes part in)', '');
    for (const [name, p] of Object.entries(r.profiles)) {
      lines.push(`### ${name}: ${sig(p.busyMs / 1000)} s busy, ${sig(p.idleMs / 1000)} s idle (main thread, wall time)`, '',
        markdown(['function', 'self ms', 'share of busy'], p.top.map((t) => [`\`${t.function}\``, sig(t.selfMs), `${(t.busyShare * 100).toFixed(1)}%`])), '');
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------

async function main() {
  const results = {
    mode: MODE, machine: machine(), date: new Date().toISOString(), bytes: SIZE, reps: REPS,
    loadBefore: loadavg(), loadAfter: undefined, runs: [], summary: {},
  };
  const fs = statfsSync(work);
  const free = fs.bavail * fs.bsize;
  const need = 6 * SIZE + WARMUP_SIZE * 8 + GiB;
  if (free < need) throw new Error(`${work}: ${sig(free / GiB)} GiB free, the benchmark needs ${sig(need / GiB)} GiB`);

  log(`rcp bench (${MODE}): ${sig(SIZE / MiB)} MiB, ${REPS} repetition(s), in ${work}`);
  const file = join(work, FILE_NAME);
  const warmupFile = join(work, 'warmup.bin');
  makeFile(file, SIZE, 1);
  makeFile(warmupFile, WARMUP_SIZE, 2);

  const ports = await freePorts(NODE_NAMES.length);
  const peers = { secret: 'rcp-bench-secret-0123456789', nodes: Object.fromEntries(NODE_NAMES.map((n, i) => [n, `${HOST}:${ports[i]}`])) };
  const peersPath = join(work, 'peers.json');
  writeFileSync(peersPath, `${JSON.stringify(peers, null, 2)}\n`);
  if (profDir) mkdirSync(profDir, { recursive: true });
  const started = await Promise.all(NODE_NAMES.map((n) => startNode(n, peers.nodes[n], peersPath, join(work, 'nodes', n))));
  const nodes = Object.fromEntries(started.map((n) => [n.name, n]));
  // Routes: one CLI call each, the calls to different nodes at the same time.
  await Promise.all(NODE_NAMES.map(async (n) => {
    for (const [at, group, hop] of ROUTES) if (at === n) await cli(['--peers', peersPath, '--node', at, 'rcproute', 'add', `group=${group}`, `nexthop=${hop}`]);
  }));
  log(`nodes up on ports ${ports.join(', ')}; routes set`);
  for (const which of RUN_CASES) if (CASES[which].group) await rcptest(nodes, which, warmupFile, WARMUP_SIZE);

  const out = join(work, 'tcp-copy.out');
  for (let rep = 0; rep < REPS; rep++) {
    const base = await tcpCopy({ file, out, children });
    rmSync(out);
    if (base.bytes !== SIZE) throw new Error(`baseline copied ${base.bytes} bytes, expected ${SIZE}`);
    results.runs.push({ rep, case: 'baseline', ...base });
    log(`rep ${rep + 1}: baseline ${sig(base.seconds)} s (${sig(gbps(SIZE, base.seconds))} GB/s)`);
    for (const which of RUN_CASES) {
      let run;
      const from = monotonicUs();
      if (which === 'tree') {
        const tree = TREE(work);
        run = await tcpCopy({ file, tree, children });
        for (const relay of tree) for (const leaf of relay.children) rmSync(leaf.out);
        if (run.bytes !== SIZE) throw new Error(`the plain tree copied ${run.bytes} bytes, expected ${SIZE}`);
      } else {
        run = await rcptest(nodes, which, file, SIZE);
      }
      results.runs.push({ rep, case: which, ...run, window: { from, to: monotonicUs() } });
      log(`rep ${rep + 1}: ${which} ${sig(run.seconds)} s (${sig(gbps(SIZE, run.seconds))} GB/s), wall ${sig(run.wallSeconds)} s`);
    }
  }

  for (const k of ['baseline', ...RUN_CASES]) {
    const runs = results.runs.filter((x) => x.case === k);
    const cpu = runs.map((x) => x.cpuSeconds);
    results.summary[k] = {
      seconds: median(runs.map((x) => x.seconds)),
      wallSeconds: median(runs.map((x) => x.wallSeconds)),
      cpuSeconds: cpu.every((x) => x !== undefined) ? median(cpu) : undefined,
    };
    const s = results.summary[k];
    s.gbps = gbps(SIZE, s.seconds);
    s.wallGbps = gbps(SIZE, s.wallSeconds);
  }
  const b = results.summary.baseline;
  for (const k of RUN_CASES) {
    const s = results.summary[k];
    s.ratio = b.seconds / s.seconds;
    s.wallRatio = b.wallSeconds / s.wallSeconds;
    if (CASES[k].target) {
      s.target = CASES[k].target;
      s.pass = s.ratio >= s.target;
    }
  }

  await cleanup();
  results.loadAfter = loadavg();
  if (profDir) {
    results.profiles = {};
    for (const n of NODE_NAMES) {
      const path = join(profDir, `${n}.cpuprofile`);
      const windows = results.runs.filter((x) => CASES[x.case].nodes?.includes(n)).map((x) => x.window);
      if (windows.length === 0) continue;
      try {
        results.profiles[n] = summarizeProfile(path, windows);
      } catch (error) {
        log(`no profile for ${n}: ${error.message}`);
      }
    }
    if (!PROF_ARG.includes('=')) log('(profiles deleted with the temporary directory; --cpu-prof=DIR keeps them)');
  }
  return results;
}

let failed = false;
const onSignal = (signal) => {
  log(`${signal}: stopping the child processes`);
  cleanup().finally(() => {
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
  writeFileSync(join(HERE, 'results', `rcp-${MODE}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(HERE, 'results', `rcp-${MODE}.md`), `${md}\n`);
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await cleanup();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
