// The child of the publish crash test: publishes volume "v" of a data directory into a
// directory on the built library (dist/) and SIGKILLs itself at its `killAt`-th event
// (each durable step and each piece of stream written counts one), so the parent sees
// a publish cut at a seeded point: mid-stream, between files, around the index, mid-removal.
//
//   node publish-child.mjs <data dir> <publish dir> <wasm|ts> <keep> <killAt>
//
// Prints {"events": n} when the publish finished before its kill point.

import { writeSync } from 'node:fs';

const dist = (path) => import(new URL(`../../dist/${path}`, import.meta.url).href);
const { DataDir } = await dist('volume/data-dir.js');
const { LocalStore } = await dist('volume/store.js');
const { publishVersions } = await dist('distribution/publish.js');
const [data, dir, backend, keepText, killAtText] = process.argv.slice(2);
const killAt = Number(killAtText);

/** Never outlive a parent that forgot us. */
setTimeout(() => process.exit(3), 60_000).unref();

let events = 0;
const event = () => {
  events++;
  if (events === killAt) process.kill(process.pid, 'SIGKILL');
};
const store = new LocalStore(await DataDir.open(data, { kernels: backend, create: false }));
await publishVersions(store, 'v', dir, { keep: Number(keepText), onStep: event, onProgress: event });
await store.close();
writeSync(1, `${JSON.stringify({ events })}\n`);
