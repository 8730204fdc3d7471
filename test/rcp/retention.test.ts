// Retention: the frames of a session not yet acknowledged by every destination, kept by
// sequence number and released in order. Scenarios first, then random operations held
// against a plain array.
//
// The random part takes its seed from SNAPCOPY_SEED (or a fresh one, printed): replay a
// failure with SNAPCOPY_SEED=<seed> npx vitest run test/rcp/retention.test.ts.

import { describe, expect, test } from 'vitest';
import { Retention } from '../../src/rcp/retention.js';
import { Prng, testSeed } from '../helpers/prng.js';

/** A frame of `bytes` bytes whose first bytes tell which sequence number it was added as. */
function frame(seq: number, bytes = 16): Uint8Array {
  const raw = new Uint8Array(Math.max(bytes, 0));
  if (raw.byteLength >= 8) new DataView(raw.buffer).setFloat64(0, seq);
  return raw;
}

/** first, last, count and bytes together, to compare in one go. */
function state(r: Retention): { first: number; last: number; count: number; bytes: number } {
  return { first: r.first, last: r.last, count: r.count, bytes: r.bytes };
}

describe('Retention', () => {
  test('a new retention is empty and expects frame 1', () => {
    const r = new Retention();
    expect(state(r)).toEqual({ first: 1, last: 0, count: 0, bytes: 0 });
    expect(r.get(0)).toBeUndefined();
    expect(r.get(1)).toBeUndefined();
    expect(r.releaseThrough(10)).toBe(0);
    // Releasing on an empty retention moves nothing: frame 1 is still the next one.
    expect(state(r)).toEqual({ first: 1, last: 0, count: 0, bytes: 0 });
  });

  test('add keeps frames by sequence number; get returns the very buffers added', () => {
    const r = new Retention();
    const frames = [frame(1, 10), frame(2, 0), frame(3, 100), frame(4, 7), frame(5, 33)];
    frames.forEach((raw, i) => r.add(i + 1, raw));
    expect(state(r)).toEqual({ first: 1, last: 5, count: 5, bytes: 150 });
    for (let seq = 1; seq <= 5; seq++) expect(r.get(seq)).toBe(frames[seq - 1]);
    for (const seq of [0, -1, 6, 100, 1.5, NaN]) expect(r.get(seq), `get(${seq})`).toBeUndefined();
  });

  test('add out of order throws a RangeError and changes nothing', () => {
    const r = new Retention();
    expect(() => r.add(0, frame(0))).toThrow(RangeError);
    expect(() => r.add(2, frame(2))).toThrow(RangeError);
    r.add(1, frame(1));
    r.add(2, frame(2));
    for (const seq of [1, 2, 4, 100, 2.5]) expect(() => r.add(seq, frame(seq)), `add(${seq})`).toThrow(RangeError);
    expect(state(r)).toEqual({ first: 1, last: 2, count: 2, bytes: 32 });
    r.add(3, frame(3));
    expect(r.last).toBe(3);
  });

  test('releaseThrough drops frames in order and returns the bytes freed', () => {
    const r = new Retention();
    for (let seq = 1; seq <= 6; seq++) r.add(seq, frame(seq, seq * 10));
    expect(r.bytes).toBe(210);
    expect(r.releaseThrough(2)).toBe(30);
    expect(state(r)).toEqual({ first: 3, last: 6, count: 4, bytes: 180 });
    expect(r.get(2)).toBeUndefined();
    expect(r.get(3)).toEqual(frame(3, 30));
    // Releasing what is already gone frees nothing.
    expect(r.releaseThrough(2)).toBe(0);
    expect(r.releaseThrough(0)).toBe(0);
    expect(r.releaseThrough(-5)).toBe(0);
    expect(state(r)).toEqual({ first: 3, last: 6, count: 4, bytes: 180 });
    // One at a time.
    expect(r.releaseThrough(3)).toBe(30);
    expect(r.first).toBe(4);
  });

  test('releaseThrough past the last frame empties it; adding goes on from last + 1', () => {
    const r = new Retention();
    for (let seq = 1; seq <= 4; seq++) r.add(seq, frame(seq));
    expect(r.releaseThrough(1000)).toBe(64);
    expect(state(r)).toEqual({ first: 5, last: 4, count: 0, bytes: 0 });
    for (const seq of [4, 5, 6, 1000]) expect(r.get(seq)).toBeUndefined();
    // The release did not skip ahead to 1000: the session goes on at 5.
    expect(() => r.add(1001, frame(1001))).toThrow(RangeError);
    r.add(5, frame(5));
    expect(state(r)).toEqual({ first: 5, last: 5, count: 1, bytes: 16 });
    expect(r.get(5)).toEqual(frame(5));
  });

  test('5000 frames released bit by bit (compaction included): get still finds every frame held', () => {
    const r = new Retention();
    const frames = new Map<number, Uint8Array>();
    let bytes = 0;
    const addUpTo = (last: number) => {
      for (let seq = r.last + 1; seq <= last; seq++) {
        const raw = frame(seq, 8 + (seq % 13));
        frames.set(seq, raw);
        bytes += raw.byteLength;
        r.add(seq, raw);
      }
    };
    addUpTo(5000);
    let released = 0, last = 5000;
    // Steps around the 1024-frame and half-the-array marks where the store is compacted.
    for (const through of [1, 7, 100, 1023, 1024, 1025, 1026, 2000, 2499, 2500, 2501, 2502, 3000, 4000, 4999]) {
      let freed = 0;
      for (let seq = released + 1; seq <= through; seq++) freed += frames.get(seq)!.byteLength;
      expect(r.releaseThrough(through), `through ${through}`).toBe(freed);
      bytes -= freed;
      released = through;
      // Frames keep coming in meanwhile.
      addUpTo(last += 300);
      expect(state(r), `through ${through}`).toEqual({ first: through + 1, last, count: last - through, bytes });
      expect(r.get(through), `through ${through}`).toBeUndefined();
      for (let seq = through + 1; seq <= last; seq++) {
        if (r.get(seq) !== frames.get(seq)) expect(r.get(seq), `get(${seq}) after releasing through ${through}`).toBe(frames.get(seq));
      }
    }
    expect(r.releaseThrough(last)).toBe(bytes);
    expect(state(r)).toEqual({ first: last + 1, last, count: 0, bytes: 0 });
  });

  test('startAt: an empty retention starts at any sequence number, past 2^32 too', () => {
    const r = new Retention();
    r.startAt(1000);
    expect(state(r)).toEqual({ first: 1000, last: 999, count: 0, bytes: 0 });
    expect(() => r.add(1, frame(1))).toThrow(RangeError);
    r.add(1000, frame(1000));
    r.add(1001, frame(1001));
    expect(r.get(999)).toBeUndefined();
    expect(r.get(1000)).toEqual(frame(1000));
    expect(state(r)).toEqual({ first: 1000, last: 1001, count: 2, bytes: 32 });

    const far = new Retention();
    far.startAt(2 ** 32 + 5);
    far.add(2 ** 32 + 5, frame(7));
    expect(far.get(2 ** 32 + 5)).toEqual(frame(7));
    expect(far.last).toBe(2 ** 32 + 5);
  });

  test('startAt refuses a retention that holds frames, and works again once they are released', () => {
    const r = new Retention();
    r.add(1, frame(1));
    r.add(2, frame(2));
    expect(() => r.startAt(50)).toThrow(RangeError);
    expect(state(r)).toEqual({ first: 1, last: 2, count: 2, bytes: 32 });
    r.releaseThrough(2);
    r.startAt(50);
    expect(state(r)).toEqual({ first: 50, last: 49, count: 0, bytes: 0 });
    r.add(50, frame(50));
    expect(r.get(50)).toEqual(frame(50));
    expect(r.get(2)).toBeUndefined();
  });

  test('random add / get / releaseThrough / startAt agree with a plain array', () => {
    const seed = testSeed('retention');
    const rng = new Prng(seed);
    for (let round = 0; round < 20; round++) {
      const r = new Retention();
      // The model: the frames held, from `first` on.
      let first = 1;
      let held: Uint8Array[] = [];
      let bytes = 0;
      const last = () => first + held.length - 1;
      const ops = rng.int(500, 6000);
      for (let op = 0; op < ops; op++) {
        const label = `seed ${seed} round ${round} op ${op}`;
        const what = rng.float();
        if (what < 0.55) {
          const raw = frame(last() + 1, rng.pick([0, 1, 12, 40, 4096]));
          r.add(last() + 1, raw);
          held.push(raw);
          bytes += raw.byteLength;
        } else if (what < 0.6) {
          // Out of order: refused.
          const seq = last() + rng.pick([-1, 0, 2, 10]);
          expect(() => r.add(seq, frame(seq)), label).toThrow(RangeError);
        } else if (what < 0.8) {
          const through = rng.int(first - 3, last() + 3);
          const drop = Math.max(0, Math.min(held.length, through - first + 1));
          const freed = held.slice(0, drop).reduce((n, raw) => n + raw.byteLength, 0);
          expect(r.releaseThrough(through), label).toBe(freed);
          held = held.slice(drop);
          first += drop;
          bytes -= freed;
        } else if (what < 0.82) {
          if (held.length === 0) {
            const seq = rng.chance(0.5) ? last() + 1 : rng.int(1, 2 ** 40);
            r.startAt(seq);
            first = seq;
          } else {
            expect(() => r.startAt(rng.int(1, 1000)), label).toThrow(RangeError);
          }
        } else {
          const seq = rng.int(first - 3, last() + 3);
          const expected = seq >= first && seq <= last() ? held[seq - first] : undefined;
          expect(r.get(seq), `${label}: get(${seq})`).toBe(expected);
        }
        const want = { first, last: last(), count: held.length, bytes };
        const got = state(r);
        if (got.first !== want.first || got.last !== want.last || got.count !== want.count || got.bytes !== want.bytes) {
          expect(got, label).toEqual(want);
        }
      }
      // Every frame still held, at the end of the round.
      for (let seq = first; seq <= last(); seq++) expect(r.get(seq), `seed ${seed} round ${round}: get(${seq})`).toBe(held[seq - first]);
    }
  });
});
