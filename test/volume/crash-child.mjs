// The child of the crash test (test/volume/crash.test.ts): it opens a data directory
// and runs a seeded random sequence of operations until the parent kills it with
// SIGKILL. Plain ESM on the built library (dist/bundle/, one file), so it starts fast.
//
//   node crash-child.mjs <dir> <wasm|ts> <mode> [<seed> <first op id>]
//
// mode "wait":    import the library, print {phase: 'warm'}, then read one JSON line
//                 {mode, ...} from stdin and go on in that mode (the parent starts the
//                 next child while it checks the last one's crash).
// mode "ops":     print {phase: 'opening'}, open the directory (recovering what the last
//                 crash left), print {phase: 'ready'}, then run a seeded random sequence
//                 of operations ({mode, seed, firstOp}) until it is killed, printing
//                 {begin: op} before each and {done: id} when it returns.
// mode "recover": print {phase: 'opening'}, open the directory and its volumes (the
//                 recovery the parent wants to interrupt), print {phase: 'ready'}, idle.
// mode "script":  run the ops of the command ({mode, ops}) with the same lines, then
//                 print {phase: 'idle'} and idle (a crash after acknowledged operations).
// mode "hold":    open the directory, write op 1 to volume a, print {phase: 'ready'}, idle
//                 (the holder of the lock test).
// mode "probe":   try to open the directory and volume a; print {phase: 'probe', code} and exit.
//
// Lines go out with writeSync: a pipe write is synchronous on Linux, so every line
// written before the kill reaches the parent. Volume a takes writes, discards and the
// checkpoint operations; volume b is a replica that takes import-diff of deltas between
// a's checkpoints (or a full delta from the empty image), and has checkpoints of its own.

import { writeSync } from 'node:fs';
import { content } from '../helpers/crash-content.mjs';

const lib = await import(new URL('../../dist/bundle/index.mjs', import.meta.url).href); // the built library as one file: starts faster (scripts/bundle.mjs)
const { DataDir } = lib;
const EMPTY = lib.EMPTY_IMAGE;

const [dir, backend, argvMode, ...rest] = process.argv.slice(2);
if (!dir || !backend || !argvMode) {
  process.stderr.write('usage: crash-child.mjs <dir> <wasm|ts> <wait|ops|recover|hold|probe> [<seed> <first op id>]\n');
  process.exit(2);
}
let [mode, seedText, firstOpText] = [argvMode, ...rest];
let command;

function emit(line) {
  writeSync(1, `${JSON.stringify(line)}\n`);
}

/** Never outlive a parent that forgot us. */
setTimeout(() => process.exit(3), 60_000).unref();

/** mulberry32: the child's own seeded PRNG (the parent only needs the lines). */
function prng(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    float: next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
  };
}


async function openAll() {
  const dd = await DataDir.open(dir, { kernels: backend, create: false });
  const a = await dd.volume('a');
  const b = await dd.volume('b');
  return { dd, a, b };
}

if (mode === 'wait') {
  emit({ phase: 'warm' });
  command = JSON.parse(await readLine());
  ({ mode } = command);
  seedText = String(command.seed);
  firstOpText = String(command.firstOp);
}

/** One line from stdin; exits when the parent goes away first. */
function readLine() {
  return new Promise((resolve) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end >= 0) {
        process.stdin.pause();
        resolve(text.slice(0, end));
      }
    });
    process.stdin.on('end', () => process.exit(0));
  });
}

if (mode === 'probe') {
  try {
    const dd = await DataDir.open(dir, { kernels: backend, create: false });
    try {
      await dd.volume('a');
    } finally {
      await dd.close();
    }
    emit({ phase: 'probe', code: 'OPENED' });
  } catch (error) {
    emit({ phase: 'probe', code: error?.code ?? 'NO_CODE', message: String(error?.message ?? error) });
  }
  process.exit(0);
}

if (mode !== 'hold') emit({ phase: 'opening' });
let { dd, a, b } = await openAll();

if (mode === 'hold') {
  await a.write(1000, content(1, 1000, 5000));
  emit({ phase: 'ready', pid: process.pid });
  setInterval(() => {}, 1000);
} else if (mode === 'recover') {
  emit({ phase: 'ready' });
  setInterval(() => {}, 1000);
} else if (mode === 'ops') {
  emit({ phase: 'ready' });
  await runOps();
} else if (mode === 'script') {
  emit({ phase: 'ready' });
  for (const op of command.ops) {
    emit({ begin: op });
    await run(op);
    emit({ done: op.id });
  }
  emit({ phase: 'idle' });
  setInterval(() => {}, 1000);
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}

async function runOps() {
  const rng = prng(Number(seedText));
  let id = Number(firstOpText);
  const size = a.size;
  const bs = a.blockSize;
  const blocks = a.blocks;
  const maxCheckpoints = 6;
  for (;;) {
    const ckpts = a.listCheckpoints();
    // The replica's base must stay a checkpoint of a, or no delta applies to it again.
    const anchors = ckpts.filter((c) => c.image === b.base);
    const deletable = anchors.length === 1 ? ckpts.filter((c) => c !== anchors[0]) : ckpts;
    const replicaCkpts = b.listCheckpoints();
    let op;
    const r = rng.float();
    if (r < 0.34) {
      // Writes of every shape: a few bytes, part of a block, across block edges, whole aligned blocks.
      const shape = rng.int(0, 3);
      let length;
      let offset;
      if (shape === 0) length = rng.int(1, 64);
      else if (shape === 1) length = rng.int(65, bs);
      else length = rng.int(bs, 6 * bs);
      if (shape === 3) {
        length = rng.int(1, 6) * bs;
        offset = rng.int(0, blocks - length / bs) * bs;
      } else {
        offset = rng.int(0, size - length);
      }
      op = { op: 'write', id, offset, length };
    } else if (r < 0.43) {
      const count = rng.float() < 0.8 ? rng.int(1, 4) : rng.int(5, 40);
      const start = rng.int(0, blocks - count);
      op = { op: 'discard', id, offset: start * bs, length: count * bs };
    } else if (r < 0.56 && ckpts.length < maxCheckpoints) {
      op = { op: 'create', id, name: `c${id}` };
    } else if (r < 0.66 && deletable.length > 0) {
      op = { op: 'delete', id, name: rng.pick(deletable).name };
    } else if (r < 0.75 && ckpts.length > 0) {
      op = { op: 'restore', id, name: rng.pick(ckpts).name };
    } else if (r < 0.90) {
      op = importOp(id, ckpts, rng);
      if (!op) continue;
    } else if (r < 0.93 && replicaCkpts.length < 3) {
      // The replica's own checkpoints: an import then saves before-images into its tail.
      op = { op: 'create', vol: 'b', id, name: `r${id}` };
    } else if (r < 0.97 && replicaCkpts.length > 0) {
      op = { op: 'delete', vol: 'b', id, name: rng.pick(replicaCkpts).name };
    } else {
      op = { op: 'reopen', id };
    }
    emit({ begin: op });
    await run(op);
    emit({ done: id });
    id++;
  }
}

function importOp(id, ckpts, rng) {
  if (EMPTY !== undefined && b.base === EMPTY) {
    if (ckpts.length === 0) return undefined;
    const to = rng.pick(ckpts);
    return { op: 'import', id, from: null, to: to.name, toImage: to.image };
  }
  let last = -1;
  ckpts.forEach((c, i) => { if (c.image === b.base) last = i; });
  if (last < 0 || last === ckpts.length - 1) return undefined;
  const from = ckpts[last];
  const to = ckpts[rng.int(last + 1, ckpts.length - 1)];
  return { op: 'import', id, from: from.name, to: to.name, toImage: to.image };
}

/** A stream that stops for good once its first piece is taken in (then the child says idle). */
async function* stalled(source) {
  let pieces = 0;
  for await (const piece of source) {
    if (pieces++ === 1) {
      emit({ phase: 'idle' });
      await new Promise(() => {});
    }
    yield piece;
  }
}

async function run(op) {
  switch (op.op) {
    case 'write':
      return a.write(op.offset, content(op.id, op.offset, op.length));
    case 'discard':
      return a.discard(op.offset, op.length);
    case 'create':
      return (op.vol === 'b' ? b : a).createCheckpoint(op.name);
    case 'delete':
      return (op.vol === 'b' ? b : a).deleteCheckpoint(op.name);
    case 'restore':
      return a.restore(op.name);
    case 'import':
      return b.importDiff(op.stall ? stalled(a.exportDiff(op.from, op.to)) : a.exportDiff(op.from, op.to));
    case 'reopen':
      await dd.close();
      ({ dd, a, b } = await openAll());
      return undefined;
    default:
      throw new Error(`unknown op ${op.op}`);
  }
}
