// KeptRuns (src/arena/kept-runs.ts): runs kept per page in one packed pool in the arena,
// against a Map of arrays through keeps, forgets, growth with garbage dropped, and copies;
// the arena holds exactly the pools' bytes, and none once they are freed.

import { describe, expect, test } from 'vitest';
import { KeptRuns, PAGE_RUNS_LIMIT } from '../../src/arena/kept-runs.js';
import { newArena } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

function runsAt(kept: KeptRuns, page: number): number[] | null | undefined {
  const at = kept.at(page);
  if (at === undefined || at < 0) return at === undefined ? undefined : null;
  const pool = kept.pool;
  return [...pool.subarray(at + 1, at + 1 + 2 * pool[at]!)];
}

describe('KeptRuns', () => {
  test('keeps, forgets and copies runs like a map of arrays, across growth and compaction', () => {
    const seed = testSeed('kept-runs');
    const rng = new Prng(seed);
    const arena = newArena();
    for (let round = 0; round < 20; round++) {
      const pages = rng.int(1, 300);
      let kept = new KeptRuns(arena, pages);
      const model = new Map<number, number[] | null>();
      for (let op = 0; op < 2000; op++) {
        const page = rng.int(0, pages - 1);
        const what = rng.int(0, 9);
        if (what < 6) {
          const runs = rng.chance(0.1) ? null : Array.from({ length: 2 * rng.int(0, PAGE_RUNS_LIMIT) }, (_, i) => i * 100 + rng.int(0, 99));
          kept.keep(page, runs);
          model.set(page, runs);
        } else if (what < 9) {
          kept.forget(page);
          model.delete(page);
        } else if (rng.chance(0.05)) {
          const copy = new KeptRuns(arena, pages, kept);
          kept.free();
          kept = copy;
        }
        expect(arena.stats().bytesInUse, `seed ${seed} round ${round} op ${op}: arena bytes`).toBe(kept.bytes);
      }
      for (let p = 0; p < pages; p++) {
        expect(runsAt(kept, p), `seed ${seed} round ${round} page ${p}`).toEqual(model.has(p) ? model.get(p) : undefined);
      }
      kept.free();
      expect(runsAt(kept, 0)).toBeUndefined();
    }
    expect(arena.stats().bytesInUse).toBe(0);
  });
});

describe('KeptRuns.mostlyFew', () => {
  test('follows the pages kept with runs against those with too many, through forgets and copies', () => {
    const arena = newArena();
    const kept = new KeptRuns(arena, 10);
    expect(kept.mostlyFew).toBe(true);
    kept.keep(0, null);
    expect(kept.mostlyFew).toBe(false);
    kept.keep(1, [0, 5]);
    expect(kept.mostlyFew).toBe(true);
    kept.keep(2, null);
    kept.keep(3, null);
    expect(kept.mostlyFew).toBe(false);
    kept.forget(2);
    kept.keep(3, [1, 2]);
    expect(kept.mostlyFew).toBe(true);
    expect(new KeptRuns(arena, 10, kept).mostlyFew).toBe(true);
    kept.keep(1, null);
    expect(new KeptRuns(arena, 10, kept).mostlyFew).toBe(false);
  });
});
