// The child of the atomic-write and resize crash tests: opens volume "v" of a data
// directory on the built library (dist/), runs one operation and idles until the
// parent kills it with SIGKILL (at a random instant, maybe mid-operation).
//
//   node volume-op-child.mjs <dir> <wasm|ts> <operation as JSON>
//
// Operations: {op: 'writeFrom', id, offset, length, piece} writes crash-content cells
// of op `id` in pieces of `piece` bytes; {op: 'resize', size}. Lines out (writeSync,
// so every line written before the kill reaches the parent): {phase: 'ready'} once
// open (recovery done), {phase: 'begin'}, {phase: 'done', ms} when the operation returns.

import { writeSync } from 'node:fs';
import { content } from '../helpers/crash-content.mjs';

const { DataDir } = await import(new URL('../../dist/bundle/index.mjs', import.meta.url).href); // the built library as one file: starts faster (scripts/bundle.mjs)
const [dir, backend, opText] = process.argv.slice(2);
const op = JSON.parse(opText);
const emit = (line) => writeSync(1, `${JSON.stringify(line)}\n`);

/** Never outlive a parent that forgot us. */
setTimeout(() => process.exit(3), 60_000).unref();

async function* pieces({ id, offset, length, piece }) {
  for (let at = 0; at < length; at += piece) yield content(id, offset + at, Math.min(piece, length - at));
}

const dd = await DataDir.open(dir, { kernels: backend, create: false });
const v = await dd.volume('v');
emit({ phase: 'ready' });
const started = Date.now();
emit({ phase: 'begin' });
if (op.op === 'writeFrom') await v.writeFrom(op.offset, pieces(op), { size: op.length });
else if (op.op === 'resize') await v.resize(op.size);
else throw new Error(`unknown op ${op.op}`);
emit({ phase: 'done', ms: Date.now() - started });
setInterval(() => {}, 1000);
