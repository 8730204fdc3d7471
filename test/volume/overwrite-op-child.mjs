// The child of crash-overwrite-stress.test.ts: opens volume "v" of a data directory on
// the built library (dist/) and either imports a stream file with a given batch size
// for overwrites in place (so several batches run, the next records read meanwhile), or
// only opens it (a recovery the parent kills). Idles until the parent kills it.
//
//   node overwrite-op-child.mjs <dir> <wasm|ts> <operation as JSON>
//
// Operations: {op: 'import', path, batchBytes}, {op: 'open'}. Lines out (writeSync, so
// every line written before the kill reaches the parent): {phase: 'opening'} before the
// open (recovery), {phase: 'begin'} once open, {phase: 'done', ms} when the import returns.

import { createReadStream, writeSync } from 'node:fs';

const { DataDir } = await import(new URL('../../dist/index.js', import.meta.url).href);
const { Overwrites } = await import(new URL('../../dist/checkpoint/import-overwrite.js', import.meta.url).href);
const { WriteBehind } = await import(new URL('../../dist/storage/write-behind.js', import.meta.url).href);
// Background syncs of the volume file every 256 KiB (64 MiB by default), so kills land while they run.
WriteBehind.every = 256 << 10;
const [dir, backend, opText] = process.argv.slice(2);
const op = JSON.parse(opText);
const emit = (line) => writeSync(1, `${JSON.stringify(line)}\n`);

/** Never outlive a parent that forgot us. */
setTimeout(() => process.exit(3), 60_000).unref();

emit({ phase: 'opening' });
const dd = await DataDir.open(dir, { kernels: backend, create: false });
const v = await dd.volume('v');
const started = Date.now();
emit({ phase: 'begin' });
if (op.op === 'import') {
  Overwrites.batchBytes = op.batchBytes;
  await v.importDiff(createReadStream(op.path, { highWaterMark: 64 << 10 }));
  emit({ phase: 'done', ms: Date.now() - started });
} else if (op.op !== 'open') {
  throw new Error(`unknown op ${op.op}`);
}
setInterval(() => {}, 1000);
