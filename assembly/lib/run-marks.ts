// A union of a few short runs counted by marking them in a page of bits (popcount-runs.ts):
// where a page's lists are runs of a few blocks each (scattered bits, ~3 a map), their
// gaps are nearly the whole page and split at every run, so subtracting runs from gaps
// costs a merge of dozens of gaps per map; marking costs a word or two per run.
// Run lists as in lib/run-gaps.ts.

/** Most words a page's runs may touch to be counted by marking (twice: marked, then cleared). */
// @ts-ignore: decorator
@inline export const MARK_WORDS: u32 = 256;

/**
 * Whether the k run lists at `lists` (u32 offsets) are better marked: runs of a word or
 * two each (short runs split the gaps; long ones leave a few gaps, cheap to subtract from,
 * and cost many words to mark), touching at most MARK_WORDS u64 words in all.
 */
export function fewMarkWords(lists: usize, k: u32): bool {
  let words: u32 = 0;
  let count: u32 = 0;
  for (let i: u32 = 0; i < k; i++) {
    let runs = <usize>load<u32>(lists + (<usize>i << 2));
    let n = <u32>load<u16>(runs);
    count += n;
    let end = runs + 2 + (<usize>n << 2);
    for (let r = runs + 2; r < end; r += 4) {
      let run = load<u32>(r);
      words += (((run >>> 16) - 1) >>> 6) - ((run & 0xFFFF) >>> 6) + 1;
      if (words > MARK_WORDS) return false;
    }
  }
  return words <= 2 * count;
}

/**
 * The set bits of the union of the k run lists at `lists`, marked in the page of bits at
 * `mark` (zero on entry, zero again on return: the words marked are cleared).
 */
export function markedUnion(lists: usize, k: u32, mark: usize): u32 {
  let count: u32 = 0;
  for (let i: u32 = 0; i < k; i++) {
    let runs = <usize>load<u32>(lists + (<usize>i << 2));
    let end = runs + 2 + (<usize>load<u16>(runs) << 2);
    for (let r = runs + 2; r < end; r += 4) {
      let run = load<u32>(r);
      let first = run & 0xFFFF;
      let stop = run >>> 16;
      for (let w = first >>> 6, last = (stop - 1) >>> 6; w <= last; w++) {
        let lo = w == first >>> 6 ? first & 63 : 0;
        let hi = w == last ? ((stop - 1) & 63) + 1 : 64;
        let bits = (hi - lo == 64 ? <u64>-1 : ((<u64>1 << <u64>(hi - lo)) - 1)) << <u64>lo;
        let at = mark + (<usize>w << 3);
        let word = load<u64>(at);
        count += <u32>popcnt(bits & ~word);
        store<u64>(at, word | bits);
      }
    }
  }
  // Clear what was marked: the same words.
  for (let i: u32 = 0; i < k; i++) {
    let runs = <usize>load<u32>(lists + (<usize>i << 2));
    let end = runs + 2 + (<usize>load<u16>(runs) << 2);
    for (let r = runs + 2; r < end; r += 4) {
      let run = load<u32>(r);
      for (let w = (run & 0xFFFF) >>> 6, last = ((run >>> 16) - 1) >>> 6; w <= last; w++) store<u64>(mark + (<usize>w << 3), 0);
    }
  }
  return count;
}
