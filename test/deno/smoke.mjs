// Deno smoke test: the built library imported from Deno runs one delta scan with
// each kernel backend, and both give the expected extents. Run: npm run test:deno
import { Arena, PagedBitmap, countDelta, deltaExtents } from '../../dist/index.js';

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
console.log(`${2 - failed} passed, ${failed} failed`);
if (failed) Deno.exit(1);
