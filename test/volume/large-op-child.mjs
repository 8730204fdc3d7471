// The child of crash-large.test.ts: opens volume "v" of a data directory on the built
// library (dist/), runs one large import-diff (of a stream file) or restore, and idles
// until the parent kills it with SIGKILL (at a random instant, maybe mid-operation).
//
//   node large-op-child.mjs <dir> <wasm|ts> <operation as JSON>
//
// Operations: {op: 'import', path}, {op: 'restore', name}. Lines out (writeSync, so every
// line written before the kill reaches the parent): {phase: 'begin'} once open
// (recovery done), {phase: 'done', ms} when the operation returns.

import { createReadStream, writeSync } from 'node:fs';

const { DataDir } = await import(new URL('../../dist/index.js', import.meta.url).href);
const { WriteBehind } = await import(new URL('../../dist/storage/write-behind.js', import.meta.url).href);
// Background syncs of the volume file every 256 KiB (64 MiB by default), so kills land while they run.
WriteBehind.every = 256 << 10;
const [dir, backend, opText] = process.argv.slice(2);
const op = JSON.parse(opText);
const emit = (line) => writeSync(1, `${JSON.stringify(line)}\n`);

/** Never outlive a parent that forgot us. */
setTimeout(() => process.exit(3), 60_000).unref();

const dd = await DataDir.open(dir, { kernels: backend, create: false });
const v = await dd.volume('v');
const started = Date.now();
emit({ phase: 'begin' });
if (op.op === 'import') await v.importDiff(createReadStream(op.path, { highWaterMark: 1 << 20 }));
else if (op.op === 'restore') await v.restore(op.name);
else throw new Error(`unknown op ${op.op}`);
emit({ phase: 'done', ms: Date.now() - started });
setInterval(() => {}, 1000);
