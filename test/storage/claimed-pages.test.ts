// ClaimedPages: the set of volume-file pages known to be allocated, and the read-back
// buffer claims borrow from it: one claim at a time gets the kept buffer, a second at
// the same time gets its own, and what is given back is kept for the next.
import { describe, expect, test } from 'vitest';
import { ClaimedPages } from '../../src/storage/file.js';

describe('ClaimedPages', () => {
  test('pages added are had; forgetting from a page drops those from it on, across sets', () => {
    const claimed = new ClaimedPages();
    const pages = [0, 1, 31, 32, 32767, 32768, 40000, 100000];
    for (const p of pages) claimed.add(p);
    for (const p of pages) expect(claimed.has(p), `page ${p}`).toBe(true);
    expect(claimed.has(2)).toBe(false);
    claimed.forgetFrom(32768);
    expect(pages.filter((p) => claimed.has(p))).toEqual([0, 1, 31, 32, 32767]);
  });

  test('the read-back buffer is lent one claim at a time and kept between claims', () => {
    const claimed = new ClaimedPages();
    const first = claimed.lend(1 << 20);
    const second = claimed.lend(1 << 20); // while the first is out: a buffer of its own
    expect(second).not.toBe(first);
    claimed.giveBack(first);
    expect(claimed.lend(4096)).toBe(first); // smaller asks take the kept one
    claimed.giveBack(first);
    const larger = claimed.lend(2 << 20); // too small: a fresh one
    expect(larger).not.toBe(first);
    expect(larger.length).toBe(2 << 20);
  });
});
