// Deno smoke test: the built library imported from Deno runs one delta scan with
// each kernel backend, and both give the expected extents; then a volume on real
// files (through Deno's node:fs) takes a checkpoint and exports and imports a delta.
// Run: npm run test:deno
import { Arena, DataDir, PagedBitmap, countDelta, deltaExtents } from '../../dist/index.js';

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
console.log(`${4 - failed} passed, ${failed} failed`);
if (failed) Deno.exit(1);
