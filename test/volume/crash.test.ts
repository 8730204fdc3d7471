// Crash safety (DESIGN.md §5): a child process (crash-child.mjs, on the built library)
// runs a seeded random sequence of operations on a small data directory (volume a:
// writes at any offset, discards, checkpoint create / delete anywhere / restore; volume
// b: import-diff of a's deltas, and checkpoints of its own) and is killed with SIGKILL
// at a random instant, again and again: after 1-4 operations, at a random fraction of the
// usual duration of the last one (learnt as the test runs), so kills spread over every
// step of every kind of operation. After each kill this process opens the directory
// and checks, against a plain model kept from the child's begin/done lines:
//   - every checkpoint whose create returned (and whose delete did not start) reads
//     exactly its image, and the checkpoint list is exactly the model's, in order;
//   - a checkpoint whose create or delete was in flight exists with its exact image, or not;
//   - the live images are the model's after every returned operation; each block of
//     the one operation in flight is wholly old or wholly new (a restore or an
//     import-diff, which volume.json's `pending` makes all or nothing, wholly old or new);
//   - the maps agree with the save volumes: delta(L, M) of neighbouring checkpoints (and
//     of the tail and the live volume) turns L's image into M's, byte for byte;
//   - image ids tell the truth: checkpoints with one image id read the same (across
//     volumes), and a volume whose base names an image reads as that image;
//   - no save volume of a checkpoint that is gone is left behind.
// Then the model follows what actually persisted of the in-flight operation, and the
// next child carries on from there. Some kills hit the recovery itself: the directory is
// left as the crash left it, and the next child is killed while it opens it.
// Scripted crashes pin sequences found wrong; a last test covers the directory lock.
//
// Kill points: 200 per backend project (400 per run of the suite). Each costs about
// 0.5 s of CPU (a node start, the operations, a check; the next child starts while the
// last crash is checked): 200 took 65-75 s on the 2-core machine at a load of 3-4, and
// 130-180 s when other jobs kept it at 7-9. SNAPCOPY_CRASH_KILLS sets another number.
// The seed comes from SNAPCOPY_SEED (printed). Replay a failure with
//   SNAPCOPY_SEED=<seed> npx vitest run --project <backend> test/volume/crash.test.ts
// (a kill lands at a time, not at an operation: a replay takes the same operations and
// the same kill delays, but where inside an operation a kill lands can differ, and so
// can what follows; the failure report lists the operations since the last check).

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type DeltaChunk, DataDir, type Volume } from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { ensureBuilt, ROOT, walk } from '../helpers/built.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { content } from '../helpers/crash-content.mjs';

const CHILD = fileURLToPath(new URL('./crash-child.mjs', import.meta.url));

const BLOCKS = 128;
const BS = 4096;
const SIZE = BLOCKS * BS;
const KILLS = Number(process.env.SNAPCOPY_CRASH_KILLS ?? 200);

// The child runs dist/: ensureBuilt (test/helpers/built.ts) builds it first when src/ is newer.

/** When dist/ last changed: a failure after a rebuild in the middle of a run may be the skew. */
function distStamp(): number {
  return Math.max(0, ...walk(join(ROOT, 'dist')).map((file) => statSync(file).mtimeMs));
}

/** Says so when dist/ changed since `stamp` (the children then ran other code than this process checks with). */
function skewNote(stamp: number): string {
  return distStamp() === stamp ? '' : '\nNOTE: dist/ was rebuilt during this run: children ran newer code than this process checks with.';
}

// ---------------------------------------------------------------------------------
// The model.


type VolumeName = 'a' | 'b';

type Op =
  | { op: 'write'; id: number; offset: number; length: number }
  | { op: 'discard'; id: number; offset: number; length: number }
  /** On volume a unless vol says b (the replica's own checkpoints). */
  | { op: 'create'; id: number; name: string; vol?: VolumeName }
  | { op: 'delete'; id: number; name: string; vol?: VolumeName }
  | { op: 'restore'; id: number; name: string }
  /** stall: the child's source stream stops after its first piece (a crash while the import stages it). */
  | { op: 'import'; id: number; from: string | null; to: string; toImage: string; stall?: boolean }
  | { op: 'reopen'; id: number };

interface CkptModel {
  name: string;
  /** Never changed in place: every operation makes new buffers. */
  image: Uint8Array;
  /** Learned at the first check after its create; must never change. */
  id?: string;
  imageId?: string;
  seq?: number;
}

interface VolumeModel {
  live: Uint8Array;
  /** Oldest first. */
  ckpts: CkptModel[];
  /** The image id the volume equals (tracked for the replica b; learned for a). */
  base: string | null;
}

/** Volume a takes writes, discards, restores and checkpoints; b (the replica) imports a's deltas and has checkpoints. */
type Model = Record<VolumeName, VolumeModel>;

function emptyModel(replicaBase: string | null): Model {
  return {
    a: { live: new Uint8Array(SIZE), ckpts: [], base: null },
    b: { live: new Uint8Array(SIZE), ckpts: [], base: replicaBase },
  };
}

function findCkpt(v: VolumeModel, name: string): CkptModel {
  const c = v.ckpts.find((x) => x.name === name);
  if (!c) throw new Error(`model has no checkpoint ${name} (child and model disagree)`);
  return c;
}

/** The model after `op` returned. */
function apply(m: Model, op: Op): Model {
  switch (op.op) {
    case 'write': {
      const live = m.a.live.slice();
      live.set(content(op.id, op.offset, op.length), op.offset);
      return { ...m, a: { ...m.a, live } };
    }
    case 'discard': {
      const live = m.a.live.slice();
      live.fill(0, op.offset, op.offset + op.length);
      return { ...m, a: { ...m.a, live } };
    }
    case 'create': {
      const v = m[op.vol ?? 'a'];
      return { ...m, [op.vol ?? 'a']: { ...v, ckpts: [...v.ckpts, { name: op.name, image: v.live }] } };
    }
    case 'delete': {
      const v = m[op.vol ?? 'a'];
      findCkpt(v, op.name);
      return { ...m, [op.vol ?? 'a']: { ...v, ckpts: v.ckpts.filter((c) => c.name !== op.name) } };
    }
    case 'restore':
      return { ...m, a: { ...m.a, live: findCkpt(m.a, op.name).image } };
    case 'import':
      return { ...m, b: { ...m.b, live: findCkpt(m.a, op.to).image, base: op.toImage } };
    case 'reopen':
      return m;
  }
}

/** Which image of a volume the op in flight may change: its live image, its checkpoint list, or nothing. */
function touches(op: Op | undefined, vol: VolumeName): 'live' | 'ckpts' | undefined {
  if (!op) return undefined;
  switch (op.op) {
    case 'write': case 'discard': case 'restore': return vol === 'a' ? 'live' : undefined;
    case 'import': return vol === 'b' ? 'live' : undefined;
    case 'create': case 'delete': return (op.vol ?? 'a') === vol ? 'ckpts' : undefined;
    case 'reopen': return undefined;
  }
}

// ---------------------------------------------------------------------------------
// Checking one crashed directory against the model.

const same = (x: Uint8Array, y: Uint8Array): boolean => Buffer.compare(x, y) === 0;
const blockOf = (image: Uint8Array, b: number): Uint8Array => image.subarray(b * BS, (b + 1) * BS);

/** A block, readable: where it stops being zeros, and the 32 bytes from there (the content cells say which op wrote them). */
function show(image: Uint8Array, b: number): string {
  const block = blockOf(image, b);
  const first = block.findIndex((x) => x !== 0);
  if (first < 0) return '(zeros)';
  const from = first & ~15;
  const text = JSON.stringify(Buffer.from(block.subarray(from, from + 32)).toString('latin1').replace(/\0/g, '0'));
  return from === 0 ? text : `zeros to byte ${from}, then ${text}`;
}

function firstDiff(actual: Uint8Array, expected: Uint8Array): string {
  const diff: number[] = [];
  for (let b = 0; b < BLOCKS; b++) if (!same(blockOf(actual, b), blockOf(expected, b))) diff.push(b);
  if (diff.length === 0) return 'no block differs';
  const b = diff[0]!;
  return `${diff.length} block(s) differ [${diff.slice(0, 12).join(',')}${diff.length > 12 ? ',...' : ''}]; `
    + `block ${b} is ${show(actual, b)}, expected ${show(expected, b)}`;
}

/** Each block wholly old or wholly new; returns the blocks that are neither. */
function mixedBlocks(actual: Uint8Array, old: Uint8Array, next: Uint8Array): number[] {
  const bad: number[] = [];
  for (let b = 0; b < BLOCKS; b++) {
    const x = blockOf(actual, b);
    if (!same(x, blockOf(old, b)) && !same(x, blockOf(next, b))) bad.push(b);
  }
  return bad;
}

async function applyDelta(chunks: AsyncIterable<DeltaChunk>, base: Uint8Array): Promise<Uint8Array> {
  const image = base.slice();
  for await (const chunk of chunks) {
    if (chunk.kind === 'data') image.set(chunk.data!, chunk.start * BS);
    else image.fill(0, chunk.start * BS, (chunk.start + chunk.count) * BS);
  }
  return image;
}

/** An op in a few characters, for the journal. */
function short(op: Op): string {
  switch (op.op) {
    case 'write': case 'discard': return `${op.op}#${op.id} [${op.offset}, +${op.length}) = blocks ${Math.floor(op.offset / BS)}..${Math.floor((op.offset + op.length - 1) / BS)}`;
    case 'create': case 'delete': return `${op.op} ${op.vol ?? 'a'}/${op.name}`;
    case 'restore': return `restore ${op.name}`;
    case 'import': return `import#${op.id} a/${op.from ?? '(empty)'}->a/${op.to} into b${op.stall ? ' (stalled)' : ''}`;
    case 'reopen': return `reopen#${op.id}`;
  }
}

const describeOp = (op: Op | undefined): string => (op ? JSON.stringify(op) : 'none');

interface Checked {
  /** The model resynced to what persisted of the op in flight. */
  model: Model;
  /** What persisted of the op in flight (old, new, created, ...). */
  outcome: string;
  /** Stage files of imports left after the open. */
  leftovers: string[];
}

/**
 * Opens the directory, checks every invariant against `model` (with `op` in flight,
 * maybe), closes it, and returns the model resynced to what persisted of `op`.
 */
async function check(dir: string, model: Model, op: Op | undefined, where: string): Promise<Checked> {
  const next = op ? apply(model, op) : model;
  const fail = (message: string): never => {
    throw new Error(`${where}: in flight: ${describeOp(op)}: ${message}`);
  };
  let dd: DataDir;
  try {
    dd = await DataDir.open(dir, { kernels: backend, create: false });
  } catch (error) {
    return fail(`the data directory does not open: ${String(error)}`);
  }
  let closed = false;
  try {
    const volumes = {} as Record<VolumeName, Volume>;
    for (const v of ['a', 'b'] as const) {
      try {
        volumes[v] = await dd.volume(v);
      } catch (error) {
        return fail(`volume ${v} does not open: ${String(error)}`);
      }
    }
    let outcome = 'exact';
    const resynced = {} as Model;
    const all: Array<{ vol: VolumeName; c: CkptModel }> = [];

    for (const v of ['a', 'b'] as const) {
      const volume = volumes[v];
      const old = model[v];
      const neu = next[v];
      const touched = touches(op, v);

      // The checkpoint list: the model's, or (create/delete in flight) the model's after the op.
      const list = volume.listCheckpoints();
      const names = list.map((c) => c.name).join();
      let ckpts: CkptModel[];
      if (names === old.ckpts.map((c) => c.name).join()) ckpts = old.ckpts;
      else if (touched === 'ckpts' && names === neu.ckpts.map((c) => c.name).join()) ckpts = neu.ckpts;
      else {
        return fail(`volume ${v} has checkpoints [${names}], expected [${old.ckpts.map((c) => c.name)}]`
          + `${touched === 'ckpts' ? ` or [${neu.ckpts.map((c) => c.name)}]` : ''}`);
      }
      if (touched === 'ckpts' && (op!.op === 'create' || op!.op === 'delete')) {
        const there = list.some((c) => c.name === op!.name);
        outcome = op!.op === 'create' ? (there ? 'created' : 'not created') : (there ? 'not deleted' : 'deleted');
      }
      const resolved: CkptModel[] = [];
      for (let i = 0; i < list.length; i++) {
        const info = list[i]!;
        const c = ckpts[i]!;
        if (i > 0 && info.seq <= list[i - 1]!.seq) fail(`checkpoint ${v}/${info.name} has seq ${info.seq} after ${list[i - 1]!.seq}`);
        if (c.id !== undefined && (c.id !== info.id || c.imageId !== info.image || c.seq !== info.seq)) {
          fail(`checkpoint ${v}/${info.name} changed identity: ${JSON.stringify(info)} was id ${c.id} image ${c.imageId} seq ${c.seq}`);
        }
        const image = await volume.read(0, SIZE, { checkpoint: info.name });
        if (!same(image, c.image)) fail(`checkpoint ${v}/${info.name} does not read as when it was made: ${firstDiff(image, c.image)}`);
        const r = { name: c.name, image: c.image, id: info.id, imageId: info.image, seq: info.seq };
        resolved.push(r);
        all.push({ vol: v, c: r });
      }

      // The live image.
      const live = await volume.read(0, SIZE);
      if (touched === 'live') {
        const bad = mixedBlocks(live, old.live, neu.live);
        if (bad.length > 0) {
          const b0 = bad[0]!;
          fail(`blocks [${bad.slice(0, 12)}] of volume ${v} are neither old nor new: block ${b0} is ${show(live, b0)}, `
            + `old ${show(old.live, b0)}, new ${show(neu.live, b0)}`);
        }
        const isOld = same(live, old.live);
        const isNew = same(live, neu.live);
        // Restore and import-diff commit in volume.json (`pending`) and are finished on open: all or nothing.
        if ((op!.op === 'restore' || op!.op === 'import') && !isOld && !isNew) {
          fail(`${op!.op} is not atomic: volume ${v} is partly changed: old vs actual: ${firstDiff(live, old.live)}; `
            + `new vs actual: ${firstDiff(live, neu.live)}`);
        }
        outcome = isOld && isNew ? 'no change' : isOld ? 'old' : isNew ? 'new' : 'per block';
        if (v === 'b') {
          const bases = [isOld ? old.base : undefined, isNew ? neu.base : undefined];
          if (!bases.includes(volume.base)) fail(`the replica's base is ${volume.base}, expected ${bases.filter((x) => x !== undefined).join(' or ')}`);
        }
      } else {
        if (!same(live, old.live)) fail(`the live image of volume ${v} is not the model's: ${firstDiff(live, old.live)}`);
        if (v === 'b' && volume.base !== old.base) fail(`the replica's base is ${volume.base}, expected ${old.base}`);
      }

      // The maps agree with the save volumes: each delta turns one image into the next.
      for (let i = 0; i < resolved.length; i++) {
        const older = resolved[i]!;
        const newer = resolved[i + 1];
        const got = await applyDelta(volume.delta(older.name, newer?.name), older.image);
        const want = newer ? newer.image : live;
        if (!same(got, want)) {
          fail(`volume ${v}: delta(${older.name}, ${newer?.name ?? 'live'}) applied to ${older.name} is not `
            + `${newer?.name ?? 'the live image'}: ${firstDiff(got, want)}`);
        }
      }

      // Save volumes of checkpoints that are gone (or never committed) are cleaned up on open.
      const ckptDir = join(dir, 'volumes', v, 'ckpt');
      if (existsSync(ckptDir)) {
        const entries = readdirSync(ckptDir).sort();
        const ids = resolved.map((c) => c.id!).sort();
        if (entries.join() !== ids.join()) fail(`${ckptDir} holds [${entries}] but the checkpoints are [${ids}]`);
      }
      resynced[v] = { live, ckpts: resolved, base: volume.base };
    }

    // Image ids tell the truth, across volumes: one id, one image; a volume's base is its image.
    for (let i = 0; i < all.length; i++) {
      const x = all[i]!;
      for (const y of all.slice(i + 1)) {
        if (x.c.imageId === y.c.imageId && !same(x.c.image, y.c.image)) {
          fail(`checkpoints ${x.vol}/${x.c.name} and ${y.vol}/${y.c.name} name one image ${x.c.imageId} but differ: ${firstDiff(y.c.image, x.c.image)}`);
        }
      }
      for (const v of ['a', 'b'] as const) {
        const base = resynced[v].base;
        if (base !== null && x.c.imageId === base && !same(resynced[v].live, x.c.image)) {
          fail(`volume ${v}'s base is ${base}, the image of ${x.vol}/${x.c.name}, but it does not read as it: ${firstDiff(resynced[v].live, x.c.image)}`);
        }
      }
    }

    // The stage of an import that never committed is stray too (not counted as a failure
    // here: it holds nothing the volume uses, and the next import truncates it).
    const leftovers = ['a', 'b'].map((v) => join(dir, 'volumes', v, 'import.stage')).filter((path) => existsSync(path));

    closed = true;
    await dd.close();
    return { model: resynced, outcome, leftovers };
  } finally {
    if (!closed) await dd.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------
// Running and killing a child.

/** A line the child printed, and when it arrived (performance.now()). */
interface Line {
  begin?: Op;
  done?: number;
  phase?: string;
  t: number;
}

interface ChildRun {
  lines: Line[];
  /** The phase the child had printed last when the kill was sent. */
  phaseAtKill: string;
}

type Command =
  | { mode: 'ops'; seed: number; firstOp: number }
  | { mode: 'recover' }
  | { mode: 'script'; ops: Op[] };

/**
 * A child started ahead of its turn: it imports the library (the slow part of its
 * start) while the last child runs and its crash is checked, then waits for its command.
 */
class Child {
  readonly proc: ChildProcess;
  #out = '';
  #err = '';
  #phase = 'starting';
  readonly #lines: Line[] = [];
  #onLine: ((line: Line) => void) | undefined;
  readonly #closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(dir: string) {
    this.proc = spawn(process.execPath, [CHILD, dir, backend, 'wait'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stdout!.on('data', (text: string) => {
      const t = performance.now();
      this.#out += text;
      let end: number;
      while ((end = this.#out.indexOf('\n')) >= 0) {
        const line = { ...(JSON.parse(this.#out.slice(0, end)) as Omit<Line, 't'>), t };
        this.#out = this.#out.slice(end + 1);
        if (line.phase) this.#phase = line.phase;
        this.#lines.push(line);
        this.#onLine?.(line);
      }
    });
    this.proc.stderr!.on('data', (text: string) => void (this.#err += text));
    this.proc.stdin!.on('error', () => undefined); // a child that died early; its close says why
    this.#closed = new Promise((resolve) => this.proc.on('close', (code, signal) => resolve({ code, signal })));
  }

  /**
   * Waits for the child to be warm and gives it its command; `killAfter` sees each line
   * and may answer a delay: the child is killed that many ms later.
   */
  async run(command: Command, killAfter: (line: Line) => number | undefined): Promise<ChildRun> {
    let phaseAtKill = '';
    const killAt = (why: string) => {
      if (phaseAtKill) return;
      phaseAtKill = why;
      this.proc.kill('SIGKILL');
    };
    const watchdog = setTimeout(() => killAt(`watchdog (${this.#phase})`), 30_000);
    let timer: NodeJS.Timeout | undefined;
    let sent = false;
    this.#onLine = (line) => {
      if (!sent && line.phase === 'warm') {
        sent = true;
        this.proc.stdin!.write(`${JSON.stringify(command)}\n`);
      } else if (sent && timer === undefined) {
        const delay = killAfter(line);
        if (delay !== undefined) timer = setTimeout(() => killAt(this.#phase), delay);
      }
    };
    for (const line of this.#lines) this.#onLine(line);
    const { code, signal } = await this.#closed;
    clearTimeout(watchdog);
    clearTimeout(timer);
    if (signal !== 'SIGKILL' || !phaseAtKill || phaseAtKill.startsWith('watchdog')) {
      throw new Error(`the child (${JSON.stringify(command)}) ended by itself (code ${code}, signal ${signal}, `
        + `${phaseAtKill || 'not killed'}):\n${this.#err}\n${this.#out.slice(-2000)}`);
    }
    // A line cut by the kill stays in #out (a pipe write of a short line is atomic, but be safe).
    return { lines: this.#lines, phaseAtKill };
  }

  async dispose(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.#closed;
  }
}

/** Running averages of how long each kind of operation (and an open) takes, to aim kills inside them. */
class Durations {
  readonly #ms = new Map<string, number>();

  get(kind: string): number {
    return this.#ms.get(kind) ?? 40;
  }

  add(kind: string, ms: number): void {
    const old = this.#ms.get(kind);
    this.#ms.set(kind, old === undefined ? ms : old * 0.8 + ms * 0.2);
  }

  toString(): string {
    return [...this.#ms].map(([kind, ms]) => `${kind} ${ms.toFixed(0)}`).join(', ');
  }

  /** Learns from a run's lines: begin -> done of each op, opening -> ready. */
  learn(lines: Line[]): void {
    let begin: Line | undefined;
    let opening: Line | undefined;
    for (const line of lines) {
      if (line.phase === 'opening') opening = line;
      if (line.phase === 'ready' && opening) this.add('open', line.t - opening.t);
      if (line.begin) begin = line;
      if (line.done !== undefined && begin?.begin) this.add(begin.begin.op, line.t - begin.t);
    }
  }
}

function waitForLine(child: ChildProcess, phase: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (text: Buffer) => void (err += text.toString()));
    child.stdout!.on('data', (text: Buffer) => {
      out += text.toString();
      for (const line of out.split('\n').slice(0, -1)) {
        if (line.includes(`"phase":"${phase}"`)) resolve(JSON.parse(line) as Record<string, unknown>);
      }
    });
    child.on('close', (code, signal) => reject(new Error(`child ended (code ${code}, signal ${signal}) before ${phase}:\n${err}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.on('close', () => resolve());
  });
}

async function makeDir(granularity: number): Promise<{ dir: string; replicaBase: string | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'snapcopy-crash-'));
  dirs.push(dir);
  const dd = await DataDir.open(dir, { kernels: backend });
  await dd.createVolume('a', { size: SIZE, blockSize: BS, granularity });
  const b = await dd.createVolume('b', { size: SIZE, blockSize: BS, granularity });
  const replicaBase = b.base;
  await dd.close();
  return { dir, replicaBase };
}

const dirs: string[] = [];

beforeAll(ensureBuilt, 600_000);

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe(`crash safety (${backend} kernels)`, () => {
  test(`kill -9 at ${KILLS} random points; every invariant holds after each`, async () => {
    const seed = testSeed('crash');
    const rng = new Prng(seed);
    const granularity = rng.int(0, 1);
    const { dir, replicaBase } = await makeDir(granularity);
    let model = emptyModel(replicaBase);
    let nextOp = 1;
    let inFlight: Op | undefined;
    let recoverNext = false;
    /** What happened since the last check (for the report of a failed one). */
    const journal: string[] = [];
    const stats = {
      opKills: 0, idleKills: 0, stagesLeft: 0, recoveryKills: 0, recoveryKillsAfterOpen: 0, opsDone: 0,
      inFlight: {} as Record<string, number>, outcomes: {} as Record<string, number>, done: {} as Record<string, number>,
      childMs: 0, checkMs: 0,
    };
    const started = performance.now();
    const stamp = distStamp();
    const durations = new Durations();
    let spare = new Child(dir);
    try {
      for (let kill = 1; kill <= KILLS; kill++) {
        const mode = recoverNext ? 'recover' : 'ops';
        // An ops child is killed at a random fraction of the usual duration of its
        // count-th operation after that one begins (in the next one, when it ends sooner).
        // A recovery child is killed at a random fraction of the usual open.
        const count = rng.int(1, 4);
        const fraction = rng.float();
        const childSeed = rng.u32();
        const lastOp = nextOp + count - 1;
        let aim = '';
        const where = `seed ${seed}, kill ${kill} (${mode}, child seed ${childSeed}, `
          + `${mode === 'ops' ? `${count} op(s), ` : ''}at ${fraction.toFixed(2)} of it, granularity ${granularity})`;
        const child = spare;
        const t0 = performance.now();
        const running = mode === 'ops'
          ? child.run({ mode, seed: childSeed, firstOp: nextOp }, (line) => {
            if (line.begin?.id !== lastOp) return undefined;
            const ms = fraction * durations.get(line.begin.op);
            aim = `${ms.toFixed(0)} ms into ${line.begin.op}`;
            return ms;
          })
          : child.run({ mode }, (line) => {
            if (line.phase !== 'opening') return undefined;
            const ms = fraction * durations.get('open');
            aim = `${ms.toFixed(0)} ms into the open`;
            return ms;
          });
        spare = new Child(dir);
        const run = await running.catch((error: unknown) => {
          throw new Error(`${where}: ${String(error)}${skewNote(stamp)}`);
        });
        stats.childMs += performance.now() - t0;
        durations.learn(run.lines);
        if (mode === 'ops') {
          inFlight = undefined;
          const steps: string[] = [];
          for (const line of run.lines) {
            if (line.begin) {
              if (inFlight) throw new Error(`${where}: op ${inFlight.id} began and ${line.begin.id} began before it was done`);
              inFlight = line.begin;
              nextOp = Math.max(nextOp, line.begin.id + 1);
            } else if (line.done !== undefined) {
              if (!inFlight || inFlight.id !== line.done) throw new Error(`${where}: done ${line.done} without its begin`);
              model = apply(model, inFlight);
              steps.push(short(inFlight));
              stats.opsDone++;
              stats.done[inFlight.op] = (stats.done[inFlight.op] ?? 0) + 1;
              inFlight = undefined;
            }
          }
          journal.push(`kill ${kill} (ops, ${aim}): ${[...steps, inFlight ? `${short(inFlight)} IN FLIGHT` : 'killed between two'].join(', ')}`);
          if (inFlight) {
            stats.opKills++;
            stats.inFlight[inFlight.op] = (stats.inFlight[inFlight.op] ?? 0) + 1;
          } else {
            stats.idleKills++;
          }
          recoverNext = rng.chance(0.2);
        } else {
          journal.push(`kill ${kill} (recover, ${aim}, ${run.phaseAtKill === 'ready' ? 'after' : 'during'} the open)`);
          stats.recoveryKills++;
          if (run.phaseAtKill === 'ready') stats.recoveryKillsAfterOpen++;
          recoverNext = rng.chance(0.3);
        }
        // Leave the directory as it is for the next child's recovery, or check it now.
        if (recoverNext && kill < KILLS) continue;
        const t1 = performance.now();
        const checked = await check(dir, model, inFlight, where).catch((error: unknown) => {
          throw new Error(`${String((error as Error).message ?? error)}\nsince the last check:\n  ${journal.join('\n  ')}${skewNote(stamp)}`);
        });
        journal.length = 0;
        if (checked.leftovers.length > 0) stats.stagesLeft++;
        stats.checkMs += performance.now() - t1;
        if (inFlight) {
          const key = `${inFlight.op}:${checked.outcome}`;
          stats.outcomes[key] = (stats.outcomes[key] ?? 0) + 1;
        }
        model = checked.model;
        inFlight = undefined;
      }
    } finally {
      await spare.dispose();
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`[crash] ${backend}: ${KILLS} kill points in ${seconds.toFixed(1)} s (SNAPCOPY_SEED=${seed}, granularity ${granularity}): `
      + `${stats.opKills} mid-operation, ${stats.idleKills} between two, ${stats.recoveryKills} during recovery `
      + `(${stats.recoveryKillsAfterOpen} of them after the open finished); ${stats.opsDone} operations returned `
      + `${JSON.stringify(stats.done)}; in flight at the kill ${JSON.stringify(stats.inFlight)}; `
      + `what persisted of them ${JSON.stringify(stats.outcomes)}; children ${(stats.childMs / 1000).toFixed(1)} s, `
      + `checks ${(stats.checkMs / 1000).toFixed(1)} s; usual ms: ${durations}; an import.stage was there at ${stats.stagesLeft} checks`);
    // Most kills must land inside an operation (the rest hit the recovery, or fall between two).
    expect(stats.opKills).toBeGreaterThan(KILLS / 3);
  }, 900_000);

  // Crashes after acknowledged operations, in sequences that the random test found
  // wrong (or that are worth pinning): the child runs them, idles, and is killed.
  const scripts: Array<[string, number, Op[]]> = [
    // The write-ahead log's meta-restore record names the checkpoint; once it is deleted
    // (no compaction in between), replay skips the record and the restore is lost.
    ['a restore survives deleting its checkpoint and a crash', 0, [
      { op: 'create', id: 1, name: 'c1' },
      { op: 'write', id: 2, offset: 0, length: BS },
      { op: 'restore', id: 3, name: 'c1' },
      { op: 'delete', id: 4, name: 'c1' },
    ]],
    // At granularity 1, blocks 3..4 are half of granule 1 (not in use) and half of
    // granule 2 (in use): block 4 must read as zeros after the discard.
    ['a discard across two partly discarded granules', 1, [
      { op: 'write', id: 1, offset: 4 * BS, length: BS },
      { op: 'discard', id: 2, offset: 3 * BS, length: 2 * BS },
    ]],
    // Killed while the import copies the stream to its stage: the replica is as it was,
    // and opening removes the stage (open.ts: stray files of uncommitted work are removed).
    ['an import cut off while staging', 0, [
      { op: 'write', id: 1, offset: 0, length: 3 * BS },
      { op: 'create', id: 2, name: 'c2' },
      { op: 'import', id: 3, from: null, to: 'c2', toImage: '(unknown)', stall: true },
    ]],
  ];
  test.each(scripts)('scripted crash: %s (granularity %i)', async (_name, granularity, ops) => {
    const { dir, replicaBase } = await makeDir(granularity);
    const child = new Child(dir);
    const run = await child.run({ mode: 'script', ops }, (line) => (line.phase === 'idle' ? 0 : undefined));
    const done = new Set(run.lines.map((line) => line.done).filter((id) => id !== undefined));
    let model = emptyModel(replicaBase);
    let inFlight: Op | undefined;
    for (const op of ops) {
      if (done.has(op.id)) model = apply(model, op);
      else inFlight = op;
    }
    expect(done.size).toBe(ops.filter((op) => !(op.op === 'import' && op.stall)).length);
    const checked = await check(dir, model, inFlight, `after ${ops.map(short).join(', ')}`);
    if (inFlight?.op === 'import') expect(checked.outcome).toBe('old');
    expect(checked.leftovers).toEqual([]);
  }, 60_000);

  test('a second process gets ERR_LOCKED on a volume the first holds; the lock of a killed holder is taken over', async () => {
    const { dir } = await makeDir(0);
    const holder = spawn(process.execPath, [CHILD, dir, backend, 'hold'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const ready = await waitForLine(holder, 'ready');
      expect(ready.pid).toBe(holder.pid);
      // This process, and a third one, are refused with a clear error; nothing is touched.
      const opened = await DataDir.open(dir, { kernels: backend });
      const error = await opened.volume('a').then(() => undefined, (e: unknown) => e);
      await opened.close();
      expect(error).toMatchObject({ code: 'ERR_LOCKED' });
      expect(String((error as Error).message)).toContain(String(holder.pid));
      const probe = spawn(process.execPath, [CHILD, dir, backend, 'probe'], { stdio: ['ignore', 'pipe', 'pipe'] });
      expect(await waitForLine(probe, 'probe')).toMatchObject({ code: 'ERR_LOCKED' });
      await exited(probe);
    } finally {
      holder.kill('SIGKILL');
      await exited(holder);
    }
    // The holder is gone without unlocking: its lock is stale and is taken over; its write is there.
    const dd = await DataDir.open(dir, { kernels: backend, create: false });
    try {
      const a = await dd.volume('a');
      expect(same(await a.read(1000, 5000), content(1, 1000, 5000))).toBe(true);
      // While this process holds it, another process is refused in turn.
      const probe = spawn(process.execPath, [CHILD, dir, backend, 'probe'], { stdio: ['ignore', 'pipe', 'pipe'] });
      expect(await waitForLine(probe, 'probe')).toMatchObject({ code: 'ERR_LOCKED' });
      await exited(probe);
    } finally {
      await dd.close();
    }
    // Closed: free for anyone.
    const probe = spawn(process.execPath, [CHILD, dir, backend, 'probe'], { stdio: ['ignore', 'pipe', 'pipe'] });
    expect(await waitForLine(probe, 'probe')).toMatchObject({ code: 'OPENED' });
    await exited(probe);
  }, 60_000);
});
