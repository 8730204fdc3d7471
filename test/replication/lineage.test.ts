// Generation numbers (src/replication/lineage.ts) and the comparison of two sides
// (src/replication/sides.ts) as scripts: the stages of a recovery, one event at a time,
// and the union count against a plain model of blocks on random extents (seeded).

import { describe, expect, test } from 'vitest';
import type { DeltaExtent } from '../../src/checkpoint/delta.js';
import { branch, divergence, generationName, newLineage, relate } from '../../src/replication/lineage.js';
import { commonImage, compareSides, type SideView, unionBlocks } from '../../src/replication/sides.js';
import { Prng, testSeed } from '../helpers/prng.js';

describe('generation numbers through a recovery', () => {
  test('replicate, fail over, resync, fail back, fail over again', () => {
    // P starts replicating to S: S follows P's lineage.
    let p = newLineage('P');
    let s = structuredClone(p);
    expect(relate(s, p)).toEqual({ kind: 'same' });
    // Failover: S begins generation 2@S, parting at the restart point's image.
    s = branch(s, 'S', 'img-7');
    expect(generationName(s.current)).toBe('2@S');
    expect(relate(s, p)).toEqual({ kind: 'branched', side: 'local', image: 'img-7' });
    expect(relate(p, s)).toEqual({ kind: 'branched', side: 'remote', image: 'img-7' });
    // A re-issued failover does not begin yet another generation.
    expect(branch(s, 'S', 'img-7')).toEqual(s);
    // Resync: P follows S. Failback keeps the generation (a planned turn).
    p = structuredClone(s);
    expect(relate(p, s)).toEqual({ kind: 'same' });
    // A later failover to P: 3@P, above every number either side has seen.
    p = branch(p, 'P', 'img-20');
    expect(generationName(p.current)).toBe('3@P');
    expect(relate(p, s)).toEqual({ kind: 'branched', side: 'local', image: 'img-20' });
  });

  test('two replicas of one primary both failed over have forked; volumes with no shared generation are unrelated', () => {
    const p = newLineage('P');
    const a = branch(structuredClone(p), 'A', 'img-3');
    const b = branch(structuredClone(p), 'B', 'img-5');
    expect(relate(a, b)).toEqual({ kind: 'forked', images: { local: 'img-3', remote: 'img-5' } });
    expect(relate(newLineage('X'), newLineage('Y'))).toEqual({ kind: 'unrelated' });
  });

  test('a split brain needs both sides to have written since they parted; unknown counts as written', () => {
    const rel = { kind: 'branched', side: 'local', image: 'i' } as const;
    expect(divergence(rel, { local: 3, remote: 2 }).splitBrain).toBe(true);
    expect(divergence(rel, { local: 3, remote: 0 }).splitBrain).toBe(false);
    expect(divergence(rel, { local: 0, remote: 9 }).splitBrain).toBe(false);
    expect(divergence(rel, { local: 1, remote: null }).splitBrain).toBe(true);
    expect(divergence({ kind: 'same' }, { local: 5, remote: 5 }).splitBrain).toBe(false);
  });
});

function randomExtents(prng: Prng, blocks: number): DeltaExtent[] {
  const out: DeltaExtent[] = [];
  for (let at = prng.int(0, 50); at < blocks; at += prng.int(1, 60)) {
    const count = Math.min(prng.int(1, 40), blocks - at);
    out.push({ kind: prng.int(0, 4) === 0 ? 'unused' : 'data', start: at, count });
    at += count;
  }
  return out;
}

async function* each<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

describe('comparing two sides', () => {
  test('the union of two extent lists counts each block once (against a set of blocks)', () => {
    const seed = testSeed('sides-union');
    const prng = new Prng(seed);
    for (let round = 0; round < 200; round++) {
      const blocks = prng.int(1, 3000);
      const a = randomExtents(prng, blocks);
      const b = randomExtents(prng, blocks);
      const model = new Set<number>();
      for (const e of [...a, ...b]) for (let i = 0; i < e.count; i++) model.add(e.start + i);
      expect(unionBlocks(a, b), `seed ${seed}, round ${round}`).toBe(model.size);
    }
  });

  test('the newest image both hold is where the count starts; a live image counts as held', () => {
    const local: SideView = { lineage: null, checkpoints: [{ name: 'rep-1', image: 'i1' }, { name: 'rep-2', image: 'i2' }], base: 'i3' };
    expect(commonImage(local, { lineage: null, checkpoints: [{ name: 'rep-1', image: 'i1' }], base: 'i2' })).toBe('i2');
    expect(commonImage(local, { lineage: null, checkpoints: [], base: 'i3' })).toBe('i3');
    expect(commonImage(local, { lineage: null, checkpoints: [{ name: 'x', image: 'other' }], base: null })).toBeNull();
    expect(commonImage(local, { lineage: null, checkpoints: [{ name: 'rep-1', image: 'i1' }, { name: 'rep-2', image: 'i2' }], base: null }, 'i1')).toBe('i1');
  });

  test('after a failover with writes on both sides: a split brain, each side\'s writes and their union', async () => {
    const p = newLineage('P');
    const s = branch(structuredClone(p), 'S', 'img-7');
    const primary: SideView = { lineage: p, checkpoints: [{ name: 'rep-7', image: 'img-7' }], base: null };
    const secondary: SideView = { lineage: s, checkpoints: [{ name: 'rep-7', image: 'img-7' }, { name: 'restart-7', image: 'img-7' }], base: null };
    const onP: DeltaExtent[] = [{ kind: 'data', start: 0, count: 4 }, { kind: 'data', start: 100, count: 2 }];
    const onS: DeltaExtent[] = [{ kind: 'data', start: 2, count: 4 }];
    const asked: string[] = [];
    const report = await compareSides(secondary, primary, {
      local: async (c) => (asked.push(`S:${c}`), each(onS)),
      remote: async (c) => (asked.push(`P:${c}`), each(onP)),
    }, 1000);
    expect(report.differingBlocks).toBe(8); // blocks 0–5 and 100–101
    expect(report.common).toBe('img-7');
    expect(report.generations).toEqual({ local: '2@S', remote: '1@P' });
    expect(report.divergence).toMatchObject({ splitBrain: true, wrote: { local: 4, remote: 6 } });
    expect(asked.every((a) => a.endsWith('restart-7') || a.endsWith('rep-7'))).toBe(true);
  });

  test('an old primary that still equals the restart point is no split brain; sides with nothing in common differ everywhere', async () => {
    const p = newLineage('P');
    const s = branch(structuredClone(p), 'S', 'img-7');
    const none = async () => each<DeltaExtent>([]);
    const report = await compareSides(
      { lineage: s, checkpoints: [{ name: 'restart-7', image: 'img-7' }], base: null },
      { lineage: p, checkpoints: [], base: 'img-7' },
      { local: async () => each([{ kind: 'data', start: 5, count: 3 }]), remote: none }, 64,
    );
    expect(report.divergence).toMatchObject({ splitBrain: false, wrote: { local: 3, remote: 0 } });
    expect(report.differingBlocks).toBe(3);
    const apart = await compareSides(
      { lineage: newLineage('X'), checkpoints: [{ name: 'a', image: 'ia' }], base: null },
      { lineage: newLineage('Y'), checkpoints: [{ name: 'b', image: 'ib' }], base: null },
      { local: none, remote: none }, 64,
    );
    expect(apart).toMatchObject({ differingBlocks: 64, common: null, divergence: { relation: { kind: 'unrelated' }, splitBrain: false } });
  });
});
