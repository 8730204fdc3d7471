// Deno smoke test: the built library imported from Deno runs one delta scan with
// each kernel backend, and both give the expected extents; then a volume on real
// files (through Deno's node:fs) takes a checkpoint and exports and imports a delta.
// Run: npm run test:deno
import { Arena, DataDir, NodeServer, PagedBitmap, countDelta, deltaExtents } from '../../dist/index.js';

const expected = [[5, 15], [40000, 1], [65536, 32768], [99999, 1]];
let failed = 0;
for (const kernels of ['wasm', 'ts']) {
  const arena = new Arena({ kernels });
  const older = PagedBitmap.create(arena, 100000);
  const newer = PagedBitmap.create(arena, 100000);
  older.setRange(5, 10);
  older.setRange(65536, 98304);
  newer.setRange(8, 20);
  newer.set(40000);
  newer.set(99999);
  const extents = deltaExtents({ bitmaps: [older, newer], batch: 2 });
  const blocks = countDelta({ bitmaps: [older, newer] });
  const ok = JSON.stringify(extents) === JSON.stringify(expected) && blocks === 32785;
  if (!ok) failed++;
  console.log(`${ok ? 'ok' : 'FAILED'} - deno ${Deno.version.deno}, ${arena.backend} kernels: ${JSON.stringify(extents)}, ${blocks} blocks`);
}
async function volumeRoundTrip(kernels) {
  const path = await Deno.makeTempDir();
  try {
    const dir = await DataDir.open(`${path}/data`, { kernels });
    const vol = await dir.createVolume('vol', { size: 1 << 20, blockSize: 4096 });
    await vol.write(10, new Uint8Array([1, 2, 3]));
    await vol.createCheckpoint('one');
    await vol.write(5000, new Uint8Array([9]));
    await vol.createCheckpoint('two');
    const copy = await dir.clone('one', 'copy');
    await copy.importDiff(vol.exportDiff('one', 'two'));
    const same = (await copy.read(0, vol.size)).join() === (await vol.read(0, vol.size, { checkpoint: 'two' })).join();
    const old = (await vol.read(10, 3, { checkpoint: 'one' })).join();
    await dir.close();
    return same && old === '1,2,3';
  } finally {
    await Deno.remove(path, { recursive: true });
  }
}

for (const kernels of ['wasm', 'ts']) {
  const ok = await volumeRoundTrip(kernels);
  if (!ok) failed++;
  console.log(`${ok ? 'ok' : 'FAILED'} - deno, ${kernels} kernels: volume checkpoint, export-diff and import-diff on real files`);
}
// Two nodes in this process (Deno's node:net and node:http): one sends a file to the
// other over RCP, authenticated, and the other stores it byte for byte.
async function rcpRoundTrip() {
  const path = await Deno.makeTempDir();
  const peers = { secret: 'deno smoke test secret', nodes: {} };
  const nodes = [];
  try {
    const a = await NodeServer.start({ name: 'a', listen: '127.0.0.1:0', dataDir: `${path}/a`, peers });
    nodes.push(a);
    const b = await NodeServer.start({ name: 'b', listen: '127.0.0.1:0', dataDir: `${path}/b`, peers });
    nodes.push(b);
    a.config.routing.add('g', b.address);
    b.config.routing.add('g', 'b');
    const bytes = new Uint8Array(600_000).map((_, i) => (i * 2654435761) >>> 24);
    // The bytes as a client would stream them: in pieces that do not line up with frames.
    const pieces = [bytes.subarray(0, 1000), bytes.subarray(1000, 300_000), bytes.subarray(300_000)];
    const result = await a.rcptest({ group: 'g', name: 'file.bin', size: bytes.length, source: pieces });
    const got = await Deno.readFile(`${path}/b/rcptest/file.bin`);
    return result.destinations.b?.status === 'ok' && got.join() === bytes.join();
  } finally {
    for (const node of nodes) await node.close();
    await Deno.remove(path, { recursive: true });
  }
}

{
  const ok = await rcpRoundTrip();
  if (!ok) failed++;
  console.log(`${ok ? 'ok' : 'FAILED'} - deno: two nodes, an authenticated RCP session, a file delivered`);
}
console.log(`${5 - failed} passed, ${failed} failed`);
if (failed) Deno.exit(1);
