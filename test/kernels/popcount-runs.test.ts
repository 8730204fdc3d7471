// popcountRuns (assembly/popcount-runs.ts and its twin): the set bits of the OR of each
// page's run lists, against a page of bits, for random lists of every shape (empty, one
// run over the whole page, runs meeting gaps edge to edge, many lists whose gaps keep
// splitting), pages cut short, and many pages a call.

import { describe, expect, test } from 'vitest';
import { PAGE_BLOCKS, RUNS_SCRATCH_BYTES } from '../../src/kernels/api.js';
import { backend, newArena } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

/** Ascending, apart, non-empty [first, end) runs within [0, size). */
function randomRuns(rng: Prng, size: number): number[] {
  const shape = rng.int(0, 7);
  if (shape === 0) return [];
  if (shape === 1) return [0, size];
  // All but the last block, or the first: a one-block gap at an edge of the page.
  if (shape === 2 && size > 1) return [0, size - 1];
  if (shape === 3 && size > 1) return [1, size];
  const runs: number[] = [];
  const most = rng.pick([1, 4, 30, 64, 400]);
  let at = rng.chance(0.3) ? 0 : rng.int(0, 200);
  for (let i = 0; i < most && at < size; i++) {
    const end = Math.min(size, at + rng.int(1, rng.pick([1, 40, 2000])));
    runs.push(at, end);
    at = end + rng.int(1, rng.pick([1, 60, 3000]));
  }
  return runs;
}

describe(`popcountRuns (${backend})`, () => {
  test('counts the union of each page\'s run lists like a page of bits', () => {
    const seed = testSeed('popcount-runs');
    const rng = new Prng(seed);
    const arena = newArena();
    const scratch = arena.allocScratch(RUNS_SCRATCH_BYTES);
    for (let round = 0; round < 60; round++) {
      const pages = rng.int(1, 12);
      let want = 0;
      const lists: number[][] = [];
      const entries: Array<{ size: number; lists: number[] }> = [];
      for (let p = 0; p < pages; p++) {
        const size = rng.chance(0.7) ? PAGE_BLOCKS : rng.int(1, PAGE_BLOCKS);
        const bits = new Uint8Array(size);
        const mine: number[] = [];
        for (let k = rng.int(1, rng.pick([2, 5, 17])); k > 0; k--) {
          const runs = randomRuns(rng, size);
          for (let i = 0; i < runs.length; i += 2) bits.fill(1, runs[i]!, runs[i + 1]!);
          mine.push(lists.length);
          lists.push(runs);
        }
        for (const b of bits) want += b;
        entries.push({ size, lists: mine });
      }
      // The lists in the arena (2-byte aligned), then the page list.
      const bytes = lists.reduce((n, runs) => n + 2 + 2 * runs.length, 0);
      const base = arena.alloc(bytes + 2);
      const offsets: number[] = [];
      let at = base + 2 * rng.int(0, 1);
      for (const runs of lists) {
        offsets.push(at);
        arena.u16[at >>> 1] = runs.length / 2;
        arena.u16.set(runs, (at >>> 1) + 1);
        at += 2 + 2 * runs.length;
      }
      const words = entries.reduce((n, e) => n + 2 + e.lists.length, 0);
      const list = arena.alloc(4 * words);
      let w = list >>> 2;
      for (const e of entries) {
        arena.u32[w++] = e.size;
        arena.u32[w++] = e.lists.length;
        for (const i of e.lists) arena.u32[w++] = offsets[i]!;
      }
      expect(arena.kernels.popcountRuns(list, pages, scratch), `seed ${seed} round ${round}`).toBe(want);
      arena.free(list, 4 * words);
      arena.free(base, bytes + 2);
    }
    arena.free(scratch, RUNS_SCRATCH_BYTES);
    expect(arena.stats().bytesInUse).toBe(0);
  });
});
