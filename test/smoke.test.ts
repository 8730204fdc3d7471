import { test, expect } from 'vitest';
import { Arena, PagedBitmap, deltaExtents, countDelta } from '../src/index.js';
test('smoke', () => {
  for (const kernels of ['wasm', 'ts'] as const) {
    const arena = new Arena({ kernels });
    const a = PagedBitmap.create(arena, 100000), b = PagedBitmap.create(arena, 100000);
    a.setRange(5, 10); b.setRange(8, 20); b.set(40000); a.setRange(65536, 98304); b.set(99999);
    console.log(kernels, JSON.stringify(deltaExtents({ bitmaps: [a, b] })), countDelta({ bitmaps: [a, b] }));
    console.log(kernels, JSON.stringify(deltaExtents({ bitmaps: [a, b], batch: 1, from: 9, to: 99999 })));
  }
});
