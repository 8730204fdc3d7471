// Gap lists for counting a union of runs (popcount-runs.ts): the blocks of a page no map
// sets are the gaps of one map's runs less every other map's runs. A run list is a u16
// count n, then n ascending [first, end) u16 pairs within the page; a gap list is n
// [first, end) u16 pairs, its length kept by the caller.

/** Bytes of one gap list: a page has at most PAGE_BLOCKS / 2 gaps (each needs a set bit after it). */
// @ts-ignore: decorator
@inline export const GAP_LIST_BYTES: usize = 65536;

/** The gaps of the run list at `runs` within [0, size), to `out`. Returns how many. */
export function gapsOf(runs: usize, size: u32, out: usize): u32 {
  let n: u32 = 0;
  let from: u32 = 0;
  let end = runs + 2 + (<usize>load<u16>(runs) << 2);
  for (let r = runs + 2; r < end; r += 4) {
    let first = <u32>load<u16>(r);
    if (first > from) {
      store<u32>(out + (<usize>n << 2), from | (first << 16));
      n++;
    }
    from = <u32>load<u16>(r, 2);
  }
  if (size > from) {
    store<u32>(out + (<usize>n << 2), from | (size << 16));
    n++;
  }
  return n;
}

/**
 * The n gaps at `gaps` less the run list at `runs`, to `out`. Returns how many are left.
 * Each gap finds the first run that ends past its start from where the gap before left
 * off: by a walk when gaps are about as many as runs, by a binary search when they are
 * few (after two maps of a clustered delta, a gap or two against dozens of runs).
 */
export function subtractRuns(gaps: usize, n: u32, runs: usize, out: usize): u32 {
  let count = <u32>load<u16>(runs);
  let base = runs + 2; // run r: [u16 at base + 4r, u16 at base + 4r + 2)
  let search = (n << 3) < count;
  let left: u32 = 0;
  let r: u32 = 0;
  for (let g: u32 = 0; g < n; g++) {
    let gap = load<u32>(gaps + (<usize>g << 2));
    let from = gap & 0xFFFF;
    let end = gap >>> 16;
    if (search) {
      let hi = count;
      while (r < hi) {
        let mid = (r + hi) >>> 1;
        if (<u32>load<u16>(base + (<usize>mid << 2), 2) <= from) r = mid + 1;
        else hi = mid;
      }
    } else {
      while (r < count && <u32>load<u16>(base + (<usize>r << 2), 2) <= from) r++;
    }
    // Runs that start before the gap ends cut it; the last of them may reach the next gap.
    let k = r;
    for (; k < count; k++) {
      let run = load<u32>(base + (<usize>k << 2));
      let first = run & 0xFFFF;
      if (first >= end) break;
      if (first > from) {
        store<u32>(out + (<usize>left << 2), from | (first << 16));
        left++;
      }
      let stop = run >>> 16;
      if (stop >= end) {
        from = end;
        break;
      }
      from = stop;
    }
    if (from < end) {
      store<u32>(out + (<usize>left << 2), from | (end << 16));
      left++;
    }
    r = k;
  }
  return left;
}

/** Blocks in the n gaps at `gaps`. */
export function gapBlocks(gaps: usize, n: u32): u32 {
  let blocks: u32 = 0;
  for (let g: u32 = 0; g < n; g++) {
    let gap = load<u32>(gaps + (<usize>g << 2));
    blocks += (gap >>> 16) - (gap & 0xFFFF);
  }
  return blocks;
}
