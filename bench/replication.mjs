// The replication benchmark: two `snapcopy serve` nodes on 127.0.0.1, n1 (primary) and
// n2 (replica), and the three targets of the issue, each measured in the same run as
// its baseline.
//
//   node bench/replication.mjs [--quick] [--only=throughput,writes,lag] [--mib=N]
//   (npm run bench runs it last, with --quick passed through)
//
// 1. throughput  DELTA bytes of changed blocks (1 GiB; quick 64 MiB, one contiguous write of
//                fresh seeded data over blocks already in use on both sides) written to the
//                primary, then `fs_replicate -refresh` timed (cut + stage + send + playback,
//                CLI process included), against the same delta as
//                `snapcopy export-diff vol a b - | snapcopy import-diff other -` (two local
//                processes, each with its own data directory; the pipe through bash -o pipefail).
//                Both receivers keep the newest image as a checkpoint (the replica keeps rep-<n>;
//                `other` gets one after each import, untimed), so both pay for before-images.
//                Target: replication >= 0.7 x the pipe's MB/s (medians of REPS runs, alternating
//                which goes first). Where the time goes: the set's cutMs and played ms from
//                -info, the primary's stage file watched every 10 ms (staging = from its
//                creation to its last growth; session = from then until it is removed, after
//                the replica acknowledged playback), and the CPU seconds of both nodes.
// 2. writes      the same seeded sequence of 4 KiB writes at random 4 KiB-aligned offsets
//                (each one PUT /v1/volumes/<fs>/data on one keep-alive connection to n1; the
//                node makes every write durable before it answers) on wpfs, replicated with
//                to=1, and on wplain, not replicated, same node, same size and content,
//                in alternating rounds. Target: total time replicated <= 1.1 x unreplicated.
// 3. lag         a writer at a fixed rate (32 KiB writes, LAG_RATE per second) on wpfs (to=1)
//                for 30 s (quick 4 s), after 2 s of warm-up; -info's destinations[0].lagSeconds
//                sampled every 250 ms (GET /v1/replication/info on its own connection):
//                median, p90 and max.
//
// Everything lives in a temporary directory, deleted at the end with the nodes stopped,
// on failure too. Every random choice is seeded (SEED, printed). `cat /proc/loadavg` is
// recorded with each result: this is a shared 2-CPU machine.
// Results: bench/results/replication-<quick|full>[-custom].{json,md} (--only and --mib, the
// throughput section's delta in MiB, make -custom). SNAPCOPY_DIST_DIR runs another build
// (bench/lib/dist.mjs; its bin/ beside it). A section that fails is reported as FAILED with
// its error, the others still run, and the exit code is 1.

import { closeSync, existsSync, readFileSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { buildOf, DIST_URL, lib } from './lib/dist.mjs';
import { BIN, Children, HOST, cli, cpuSecondsOf, freePorts, loadavgLine, startNode } from './lib/nodes.mjs';
import { Rng } from './lib/rng.mjs';
import { markdown, sig } from './lib/table.mjs';

const QUICK = process.argv.includes('--quick');
const ONLY_ARG = process.argv.find((a) => a.startsWith('--only='));
const MIB_ARG = process.argv.find((a) => a.startsWith('--mib='));
if (MIB_ARG && !/^--mib=[1-9]\d*$/.test(MIB_ARG)) throw new Error('--mib=N takes a positive whole number of MiB');
const SECTIONS = ONLY_ARG ? ONLY_ARG.slice('--only='.length).split(',') : ['throughput', 'writes', 'lag'];
if (SECTIONS.some((s) => !['throughput', 'writes', 'lag'].includes(s))) throw new Error('--only= takes a list of throughput, writes and lag');
const MODE = `${QUICK ? 'quick' : 'full'}${ONLY_ARG || MIB_ARG ? '-custom' : ''}`;
const SEED = 20261130;
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const DELTA = MIB_ARG ? Number(MIB_ARG.slice('--mib='.length)) * MiB : QUICK ? 64 * MiB : GiB;
const REPS = QUICK ? 1 : 3;
const WRITE_BYTES = 4096;
const WRITE_VOLUME = 64 * MiB;
/** The part of the write volumes filled first, where the writes land (blocks in use). */
const WRITE_REGION = 8 * MiB;
const WRITE_ROUNDS = QUICK ? 2 : 10;
const WRITES_PER_ROUND = QUICK ? 100 : 300;
const LAG_SECONDS = QUICK ? 4 : 30;
const LAG_WARMUP_SECONDS = 2;
const LAG_WRITE_BYTES = 32 * 1024;
const LAG_RATE = 50; // writes per second: 1.6 MB/s, well within what the node absorbs here
const LAG_SAMPLE_MS = 250;
const TARGETS = { throughput: 0.7, writes: 1.1 };
const HERE = dirname(fileURLToPath(import.meta.url));

const log = (line) => console.error(line);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const mbps = (bytes, seconds) => bytes / seconds / 1e6;
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

const work = mkdtempSync(join(tmpdir(), 'snapcopy-replication-bench-'));
const kids = new Children();

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

// ---------------------------------------------------------------------------------
// The node's HTTP API directly, on one keep-alive connection per client.

class Api {
  constructor(address, token) {
    const [host, port] = address.split(':');
    this.host = host;
    this.port = Number(port);
    this.token = token;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  request(method, path, body) {
    return new Promise((ok, fail) => {
      const headers = { authorization: `Bearer ${this.token}` };
      if (body !== undefined) headers['content-length'] = body.byteLength;
      const req = http.request({ host: this.host, port: this.port, method, path, agent: this.agent, headers }, (res) => {
        const parts = [];
        res.on('data', (c) => parts.push(c));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          if ((res.statusCode ?? 500) >= 300) fail(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else ok(text ? JSON.parse(text) : undefined);
        });
        res.on('error', fail);
      });
      req.on('error', fail);
      req.end(body);
    });
  }

  write(fs, offset, data) {
    return this.request('PUT', `/v1/volumes/${encodeURIComponent(fs)}/data?offset=${offset}`, data);
  }

  info(fs) {
    return this.request('GET', `/v1/replication/info?fs=${encodeURIComponent(fs)}`);
  }

  close() {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------
// Set-up: two nodes.

async function startNodes() {
  const ports = await freePorts(2);
  const peers = { secret: 'replication-bench-secret-0123456789', nodes: { n1: `${HOST}:${ports[0]}`, n2: `${HOST}:${ports[1]}` } };
  const peersPath = join(work, 'peers.json');
  writeFileSync(peersPath, `${JSON.stringify(peers, null, 2)}\n`);
  const [n1, n2] = await Promise.all(['n1', 'n2'].map((name) => startNode(kids, { name, address: peers.nodes[name], peersPath, dataDir: join(work, name) })));
  const target = await lib.resolveNode('n1', { peersPath });
  return { n1, n2, peersPath, api: () => new Api(target.address, target.token) };
}

// ---------------------------------------------------------------------------------
// 1. Throughput.

/** Watches the primary's stage directory every 10 ms: when the set's stream file appeared, last grew, and went. */
function watchStage(dir) {
  const seen = { created: undefined, lastGrowth: undefined, gone: undefined, bytes: 0 };
  const timer = setInterval(() => {
    const now = performance.now();
    let files = [];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.stream'));
    } catch { /* not made yet */ }
    if (files.length === 0) {
      if (seen.created !== undefined && seen.gone === undefined) seen.gone = now;
      return;
    }
    let size = 0;
    try {
      size = statSync(join(dir, files[0])).size;
    } catch {
      return;
    }
    seen.created ??= now;
    if (size > seen.bytes) {
      seen.bytes = size;
      seen.lastGrowth = now;
    }
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return seen;
    },
  };
}

async function throughputSection(env) {
  const { n1, n2, peersPath } = env;
  const node = (...args) => cli(kids, ['--peers', peersPath, '--node', 'n1', ...args]);
  const dataA = join(work, 'pipe-a');
  const dataB = join(work, 'pipe-b');
  const local = (data, ...args) => cli(kids, ['--data', data, ...args]);
  const volSize = `${(2 * DELTA) / MiB}M`;
  const file = (k) => join(work, `delta-${k}.bin`);

  log(`throughput: ${DELTA / MiB} MiB, ${REPS} repetition(s); set-up (initial copies)`);
  makeFile(file(0), DELTA, SEED);
  await node('create', 'pfs', '--size', volSize);
  await node('write', 'pfs', file(0));
  await node('fs_replicate', '-start', 'pfs', 'sfs:cel=n2', '-option', 'to=3600,hwm=0');
  await node('fs_replicate', '-refresh', 'pfs');
  await local(dataA, 'create', 'vol', '--size', volSize);
  await local(dataA, 'write', 'vol', file(0));
  await local(dataA, 'ckpt', 'create', 'vol@c0');
  await pipe(dataA, ['export-diff', 'vol@c0', '-'], dataB, ['import-diff', 'other', '-']);
  await local(dataB, 'ckpt', 'create', 'other@c0');
  rmSync(file(0));

  const runs = [];
  for (let k = 1; k <= REPS; k++) {
    makeFile(file(k), DELTA, SEED + k);
    const order = k % 2 === 1 ? ['replication', 'pipe'] : ['pipe', 'replication'];
    for (const which of order) {
      if (which === 'replication') {
        await node('write', 'pfs', file(k));
        const stage = watchStage(join(n1.dataDir, 'replication', 'stage'));
        const cpu0 = [cpuSecondsOf(n1.child.pid), cpuSecondsOf(n2.child.pid)];
        const load = loadavgLine();
        const { seconds } = await node('fs_replicate', '-refresh', 'pfs');
        const cpu1 = [cpuSecondsOf(n1.child.pid), cpuSecondsOf(n2.child.pid)];
        const seen = stage.stop();
        const info = JSON.parse((await node('fs_replicate', '-info', 'pfs', '--json')).out);
        const set = info.sets.find((s) => s.n === info.currentDeltaSet);
        const played = set?.played?.n2;
        if (!played || info.destinations[0].currentDeltaSet !== set.n) throw new Error(`refresh returned but n2 has not played set ${set?.n}`);
        if (set.bytes !== DELTA) throw new Error(`set ${set.n} holds ${set.bytes} bytes, ${DELTA} were written`);
        const run = {
          rep: k, case: 'replication', seconds, mbps: mbps(DELTA, seconds), load, set: set.n,
          cutMs: set.cutMs, sendMs: played.ms,
          stageMs: seen.lastGrowth - seen.created, sessionMs: (seen.gone ?? performance.now()) - seen.lastGrowth, streamBytes: seen.bytes,
          cpu: { n1: cpu1[0] - cpu0[0], n2: cpu1[1] - cpu0[1] },
        };
        runs.push(run);
        log(`rep ${k}: replication ${sig(seconds)} s (${sig(run.mbps)} MB/s): cut ${run.cutMs} ms, stage ${Math.round(run.stageMs)} ms, session ${Math.round(run.sessionMs)} ms; load ${load}`);
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
  const status = JSON.parse((await node('fs_replicate', '-status', 'pfs', 'sfs:cel=n2', '--json')).out);
  if (status.differingBlocks !== 0) throw new Error(`after the runs, ${status.differingBlocks} blocks differ between pfs and sfs`);
  await node('fs_replicate', '-stop', 'pfs');
  await node('destroy', 'pfs', '--recursive').catch(() => undefined);

  const of = (c) => runs.filter((r) => r.case === c);
  const rep = of('replication');
  const pipeRuns = of('pipe');
  const summary = {
    replicationSeconds: median(rep.map((r) => r.seconds)),
    pipeSeconds: median(pipeRuns.map((r) => r.seconds)),
    cutMs: median(rep.map((r) => r.cutMs)),
    stageMs: median(rep.map((r) => r.stageMs)),
    sessionMs: median(rep.map((r) => r.sessionMs)),
    sendMs: median(rep.map((r) => r.sendMs)),
    cpuN1: median(rep.map((r) => r.cpu.n1)),
    cpuN2: median(rep.map((r) => r.cpu.n2)),
  };
  summary.replicationMBps = mbps(DELTA, summary.replicationSeconds);
  summary.pipeMBps = mbps(DELTA, summary.pipeSeconds);
  summary.ratio = summary.pipeSeconds / summary.replicationSeconds;
  summary.pass = summary.ratio >= TARGETS.throughput;
  return { bytes: DELTA, reps: REPS, runs, summary };
}

/** `snapcopy --data a <left> | snapcopy --data b <right>`, timed around both processes. */
function pipe(dataA, left, dataB, right) {
  const q = (args) => args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const node = `'${process.execPath}' '${BIN}'`;
  const script = `${node} --data ${q([dataA])} ${q(left)} | ${node} --data ${q([dataB])} ${q(right)} > /dev/null`;
  return cli(kids, ['-o', 'pipefail', '-c', script], { program: 'bash', prefix: [] });
}

// ---------------------------------------------------------------------------------
// 2. Write cost, and 3. lag: on wpfs (replicated, to=1) and wplain (not replicated).

async function prepareWriteVolumes(env) {
  const node = (...args) => cli(kids, ['--peers', env.peersPath, '--node', 'n1', ...args]);
  const fill = join(work, 'fill.bin');
  makeFile(fill, WRITE_REGION, SEED + 100);
  for (const fs of ['wpfs', 'wplain']) {
    await node('create', fs, '--size', `${WRITE_VOLUME / MiB}M`, '--block-size', String(WRITE_BYTES));
    await node('write', fs, fill);
  }
  rmSync(fill);
  await node('fs_replicate', '-start', 'wpfs', 'wsfs:cel=n2', '-option', 'to=1');
  await node('fs_replicate', '-refresh', 'wpfs');
}

/** The seeded write sequence: offsets (4 KiB-aligned) and contents of each round. */
function writeSequence(rounds, perRound, bytes, seed) {
  const rng = new Rng(seed);
  const slots = WRITE_REGION / bytes;
  return Array.from({ length: rounds }, () => Array.from({ length: perRound }, () => {
    const data = Buffer.allocUnsafe(bytes);
    for (let i = 0; i < bytes; i += 4) data.writeInt32LE(rng.nextInt(), i);
    return { offset: ((rng.nextInt() >>> 0) % slots) * bytes, data };
  }));
}

async function writesSection(env) {
  const api = env.api();
  const seed = SEED + 200;
  log(`writes: ${WRITE_ROUNDS} rounds of ${WRITES_PER_ROUND} ${WRITE_BYTES} B writes on each volume, seed ${seed}`);
  const sequence = writeSequence(WRITE_ROUNDS, WRITES_PER_ROUND, WRITE_BYTES, seed);
  const setBefore = (await api.info('wpfs')).currentDeltaSet;
  const latencies = { wpfs: [], wplain: [] };
  const rounds = [];
  try {
    // One untimed round per volume first: the connection, the node's JIT and the page cache.
    for (const fs of ['wpfs', 'wplain']) for (const w of sequence[0].slice(0, 50)) await api.write(fs, w.offset, w.data);
    for (let r = 0; r < WRITE_ROUNDS; r++) {
      const order = r % 2 === 0 ? ['wpfs', 'wplain'] : ['wplain', 'wpfs'];
      const round = { round: r + 1, load: loadavgLine() };
      for (const fs of order) {
        const t0 = performance.now();
        for (const w of sequence[r]) {
          const t = performance.now();
          await api.write(fs, w.offset, w.data);
          latencies[fs].push(performance.now() - t);
        }
        round[fs] = performance.now() - t0;
      }
      rounds.push(round);
      log(`round ${r + 1}: wpfs ${Math.round(round.wpfs)} ms, wplain ${Math.round(round.wplain)} ms; load ${round.load}`);
    }
  } finally {
    api.close();
  }
  const infoApi = env.api();
  const info = await infoApi.info('wpfs');
  infoApi.close();
  const stat = (xs) => ({ meanMs: sum(xs) / xs.length, medianMs: median(xs), p99Ms: quantile(xs, 0.99), maxMs: Math.max(...xs) });
  const summary = {
    replicated: stat(latencies.wpfs), plain: stat(latencies.wplain),
    totalReplicatedMs: sum(rounds.map((r) => r.wpfs)), totalPlainMs: sum(rounds.map((r) => r.wplain)),
    setsCut: info.currentDeltaSet - setBefore,
  };
  summary.ratio = summary.totalReplicatedMs / summary.totalPlainMs;
  summary.medianRatio = summary.replicated.medianMs / summary.plain.medianMs;
  summary.pass = summary.ratio <= TARGETS.writes;
  return { writeBytes: WRITE_BYTES, writes: WRITE_ROUNDS * WRITES_PER_ROUND, seed, rounds, summary };
}

async function lagSection(env) {
  const writer = env.api();
  const sampler = env.api();
  const seed = SEED + 300;
  const total = Math.ceil((LAG_SECONDS + LAG_WARMUP_SECONDS) * LAG_RATE);
  log(`lag: ${LAG_RATE} writes/s of ${LAG_WRITE_BYTES / 1024} KiB for ${LAG_WARMUP_SECONDS} + ${LAG_SECONDS} s, seed ${seed}`);
  const [sequence] = writeSequence(1, total, LAG_WRITE_BYTES, seed);
  const setBefore = (await sampler.info('wpfs')).currentDeltaSet;
  const loadStart = loadavgLine();
  const t0 = performance.now();
  let late = 0;
  let done = 0;
  const deadline = t0 + (LAG_WARMUP_SECONDS + LAG_SECONDS) * 1000;
  const writing = (async () => {
    // A writer that falls behind (a busy machine) stops at the deadline all the same.
    for (let i = 0; i < total && performance.now() < deadline; i++) {
      const due = t0 + (i * 1000) / LAG_RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -1000 / LAG_RATE) late++;
      await writer.write('wpfs', sequence[i].offset, sequence[i].data);
      done++;
    }
  })();
  const samples = [];
  await sleep(LAG_WARMUP_SECONDS * 1000);
  const sampleStart = performance.now();
  for (let i = 0; performance.now() - sampleStart < LAG_SECONDS * 1000; i++) {
    const at = sampleStart + i * LAG_SAMPLE_MS;
    if (at > performance.now()) await sleep(at - performance.now());
    const info = await sampler.info('wpfs');
    const d = info.destinations[0];
    samples.push({ t: (performance.now() - t0) / 1000, lag: d.lagSeconds, state: info.state, set: d.currentDeltaSet });
  }
  await writing;
  const seconds = (performance.now() - t0) / 1000;
  const info = await sampler.info('wpfs');
  writer.close();
  sampler.close();
  const sets = info.sets.filter((s) => s.n > setBefore);
  const lags = samples.map((s) => s.lag).filter((x) => x !== null);
  const playedMs = sets.map((s) => s.played?.n2?.ms).filter((x) => x !== undefined);
  return {
    rate: LAG_RATE, writeBytes: LAG_WRITE_BYTES, writes: done, seconds, achievedRate: done / seconds, lateWrites: late, seed,
    loadStart, loadEnd: loadavgLine(), samples,
    summary: {
      medianLag: median(lags), p90Lag: quantile(lags, 0.9), maxLag: Math.max(...lags), samples: lags.length,
      setsCut: info.currentDeltaSet - setBefore, setsKept: sets.length,
      cutMsMedian: median(sets.map((s) => s.cutMs)), playedMsMedian: median(playedMs), playedMsMax: playedMs.length ? Math.max(...playedMs) : NaN,
    },
  };
}

// ---------------------------------------------------------------------------------
// The report.

function markdownOf(r) {
  const t = r.throughput;
  const w = r.writes;
  const l = r.lag;
  const lines = [
    `# snapcopy replication benchmark (${r.mode}, node ${r.node})`,
    '',
    `Two \`snapcopy serve\` nodes on 127.0.0.1 (n1 primary, n2 replica), ${r.nproc} CPUs shared with other work: `
      + `other people run tests on this machine, so each result carries \`cat /proc/loadavg\` taken with it. `
      + `Load at the start: \`${r.loadStart}\`; at the end: \`${r.loadEnd}\`. Seed ${SEED}. `
      + `Build: ${r.build.dist === 'dist/ of the working tree' ? r.build.dist : 'a separate build'} of commit ${r.build.commit.slice(0, 10)}.`,
    '',
    '## Targets',
    '',
    markdown(['target', 'measured', 'result'], [
      ...(t ? [[`replicating ${sig(t.bytes / MiB)} MiB of changed blocks (\`-refresh\`) ≥ ${TARGETS.throughput} × \`export-diff | import-diff\` through a pipe`,
        `${sig(t.summary.replicationMBps)} MB/s against ${sig(t.summary.pipeMBps)} MB/s: ${t.summary.ratio.toFixed(2)} ×`, t.summary.pass ? 'PASS' : 'MISS']] : []),
      ...(w ? [[`${w.writes} writes of ${w.writeBytes} B on the primary, replicated (to=1) ≤ ${TARGETS.writes} × not replicated (total time)`,
        `${sig(w.summary.totalReplicatedMs)} ms against ${sig(w.summary.totalPlainMs)} ms: ${w.summary.ratio.toFixed(2)} × (medians ${sig(w.summary.replicated.medianMs * 1000)} µs against ${sig(w.summary.plain.medianMs * 1000)} µs: ${w.summary.medianRatio.toFixed(2)} ×)`,
        w.summary.pass ? 'PASS' : 'MISS']] : []),
      ...(l ? [[`lag under ${sig(l.achievedRate)} writes/s of ${l.writeBytes / 1024} KiB (${sig((l.achievedRate * l.writeBytes) / 1e6)} MB/s), to=1, ${sig(l.seconds - LAG_WARMUP_SECONDS)} s`,
        `median ${sig(l.summary.medianLag)} s, p90 ${sig(l.summary.p90Lag)} s, max ${sig(l.summary.maxLag)} s (${l.summary.samples} samples)`, 'reported']] : []),
      ...Object.entries(r.errors ?? {}).map(([name, e]) => [`${name}`, `failed: ${e.message} (load \`${e.load}\`)`, 'FAILED']),
    ], ['l', 'l', 'l']),
  ];
  if (t) {
    const s = t.summary;
    lines.push('', `## 1. Throughput (${sig(t.bytes / MiB)} MiB changed, ${t.reps} repetition${t.reps > 1 ? 's' : ''}, medians)`, '',
      markdown(['rep', 'case', 'seconds', 'MB/s', 'cut ms', 'stage ms', 'session ms', 'send ms (-info played)', 'CPU s n1 + n2', 'load'], t.runs.map((x) => [
        String(x.rep), x.case, sig(x.seconds), sig(x.mbps),
        x.cutMs === undefined ? '–' : String(x.cutMs), x.stageMs === undefined ? '–' : String(Math.round(x.stageMs)),
        x.sessionMs === undefined ? '–' : String(Math.round(x.sessionMs)), x.sendMs === undefined ? '–' : String(Math.round(x.sendMs)),
        x.cpu ? `${sig(x.cpu.n1)} + ${sig(x.cpu.n2)}` : '–', `\`${x.load}\``,
      ]), ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']),
      '',
      `Median -refresh ${sig(s.replicationSeconds)} s = cut ${sig(s.cutMs)} ms + staging ${sig(s.stageMs)} ms + session ${sig(s.sessionMs)} ms `
        + `+ the rest (${sig(s.replicationSeconds * 1000 - s.cutMs - s.stageMs - s.sessionMs)} ms: the CLI process, the HTTP call, the wait for the next tick of the sender, the set's records).`,
      '',
      '- **seconds**: wall time around the CLI process (`snapcopy --node n1 fs_replicate -refresh pfs`; for the pipe, around `bash -o pipefail -c "snapcopy export-diff … - | snapcopy import-diff other -"`); process start-up is in both.',
      '- **MB/s**: changed bytes (10^6 B) / seconds.',
      '- **cut ms**: -info `sets[].cutMs` (the checkpoint and its delta size). **send ms**: -info `sets[].played.n2.ms` (staging + session, to the replica\'s acknowledgement after playback).',
      '- **stage ms**: the primary\'s stage file, from its creation to its last growth (export of the set to a file). **session ms**: from then until the file is removed (sent over RCP, played back and acknowledged by n2). Polled every 10 ms.',
      '- **CPU s**: user + system CPU of the two nodes during the refresh (/proc).');
  }
  if (w) {
    const s = w.summary;
    const row = (name, x) => [name, sig(x.meanMs * 1000), sig(x.medianMs * 1000), sig(x.p99Ms * 1000), sig(x.maxMs * 1000)];
    lines.push('', `## 2. Write cost (${w.writes} writes of ${w.writeBytes} B per volume, seed ${w.seed})`, '',
      markdown(['volume', 'mean µs', 'median µs', 'p99 µs', 'max µs'], [row('wpfs (replicated, to=1)', s.replicated), row('wplain (not replicated)', s.plain)], ['l', 'r', 'r', 'r', 'r']),
      '',
      `Sets cut on wpfs during the rounds: ${s.setsCut}.`,
      '',
      markdown(['round', 'wpfs ms', 'wplain ms', 'load'], w.rounds.map((x) => [String(x.round), sig(x.wpfs), sig(x.wplain), `\`${x.load}\``]), ['r', 'r', 'r', 'l']),
      '',
      '- Each write is one `PUT /v1/volumes/<fs>/data?offset=<n>` on one keep-alive connection; the node answers once the write is durable.',
      '- Rounds alternate which volume goes first; both volumes have the same size, block size (4 KiB) and content, and get the same offsets and data.');
  }
  if (l) {
    const s = l.summary;
    lines.push('', '## 3. Lag (to=1)', '',
      `${l.writes} writes of ${l.writeBytes / 1024} KiB at ${l.rate}/s requested, ${sig(l.achievedRate)}/s achieved (${l.lateWrites} started more than one interval late), `
        + `over ${sig(l.seconds)} s; lag sampled every ${LAG_SAMPLE_MS} ms after ${LAG_WARMUP_SECONDS} s of warm-up. Load \`${l.loadStart}\` at the start, \`${l.loadEnd}\` at the end.`,
      '',
      markdown(['median lag s', 'p90 s', 'max s', 'samples', 'sets cut', 'median cut ms', 'send ms (median, max)'],
        [[sig(s.medianLag), sig(s.p90Lag), sig(s.maxLag), String(s.samples), String(s.setsCut), sig(s.cutMsMedian), `${sig(s.playedMsMedian)}, ${sig(s.playedMsMax)}`]]),
      '',
      '- Lag as -info reports it (`destinations[].lagSeconds`): now minus the creation time of the newest set the replica played (SnapMirror\'s definition). With to=1 it cannot stay below about 1 s plus the time to cut, send and play a set back.');
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------


async function main() {
  if (!existsSync(new URL('index.js', DIST_URL))) throw new Error(`${DIST_URL.pathname} has no build: run npm run build first`);
  const fsStat = statfsSync(work);
  const free = fsStat.bavail * fsStat.bsize;
  const need = 10 * DELTA + GiB;
  if (free < need) throw new Error(`${work}: ${sig(free / GiB)} GiB free, the benchmark needs ${sig(need / GiB)} GiB`);
  const results = { mode: MODE, build: buildOf(), node: process.versions.node, nproc: (await import('node:os')).cpus().length, date: new Date().toISOString(), seed: SEED, loadStart: loadavgLine() };
  log(`replication bench (${MODE}) in ${work}, seed ${SEED}`);
  const env = await startNodes();
  results.errors = {};
  // A section that fails is reported as such, and the others still run.
  const run = async (name, fn) => {
    try {
      return await fn();
    } catch (error) {
      log(`${name}: ${error.message}`);
      results.errors[name] = { message: error.message, load: loadavgLine() };
      return undefined;
    }
  };
  if (SECTIONS.includes('throughput')) results.throughput = await run('throughput', () => throughputSection(env));
  const ready = (SECTIONS.includes('writes') || SECTIONS.includes('lag')) && await run('set-up of wpfs', async () => {
    await prepareWriteVolumes(env);
    return true;
  });
  if (ready && SECTIONS.includes('writes')) results.writes = await run('writes', () => writesSection(env));
  if (ready && SECTIONS.includes('lag')) results.lag = await run('lag', () => lagSection(env));
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
  writeFileSync(join(HERE, 'results', `replication-${MODE}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(HERE, 'results', `replication-${MODE}.md`), `${md}\n`);
  failed = Object.keys(results.errors).length > 0;
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await kids.stopAll();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
