// Extent output shared by the scan kernels: runs of set bits become (start, length)
// pairs of u32 in an output buffer. A run is written only when its end is known, so
// when the buffer is full the scan stops at the start of the run it could not write,
// and a second call from there neither splits nor repeats an extent.
//
// The emitter's state lives in the caller's scratch (EXTENTS_AT bytes into the
// accumulator), not in module globals, so a kernel call owns all of its state.

import { ACC_MIXED, ACC_ONES, ACC_ZERO, EXTENTS_AT, PAGE_BLOCKS, PAGE_BYTES } from "./layout";

/**
 * One scan call's output: the buffer, how much of it is written, the run still open.
 * Laid over the caller's scratch and never constructed: beginExtents sets every field.
 */
@unmanaged export class Extents {
  out!: usize;
  capacity!: u32;
  written!: u32;
  runStart!: u32;
  /** Extents the last whole page walked gave: says which walk suits the next page. */
  lastPageRuns!: u32;
  open!: bool;
}

/** Starts a scan that writes at most `cap` extents to `buffer`; its state lives at `acc`. */
export function beginExtents(acc: usize, buffer: usize, cap: u32): Extents {
  let e = changetype<Extents>(acc + EXTENTS_AT);
  e.out = buffer;
  e.capacity = cap;
  e.written = 0;
  e.open = false;
  e.runStart = 0;
  e.lastPageRuns = 0;
  return e;
}

/** Where a stopped scan resumes: the start of the run it could not write, else `end`. */
function resumePoint(e: Extents, end: u32): u32 {
  return e.open ? e.runStart : end;
}

/** Closes the open run at `end`; false when the buffer is full. */
export function closeRun(e: Extents, end: u32): bool {
  if (!e.open) return true;
  let n = e.written;
  if (n == e.capacity) return false;
  let at = e.out + (<usize>n << 3);
  store<u32>(at, e.runStart);
  store<u32>(at, end - e.runStart, 4);
  e.written = n + 1;
  e.open = false;
  return true;
}

/** Stores the run state a page loop kept in locals; false, so a full buffer can return it. */
// @ts-ignore: decorator
@inline function keep(e: Extents, isOpen: bool, start: u32, n: u32): bool {
  e.open = isOpen;
  e.runStart = start;
  e.written = n;
  return false;
}

/**
 * Writes the runs that start in a word as (start, length) extents from `at`: the j-th
 * bit of `starts` starts the run the j-th bit of `ends` ends (bit numbers of the word
 * at block `base`). Four runs a step, whatever the bits hold: a loop that stopped at
 * the last run mispredicted its exit about once a word, which cost more than the
 * stores (most words of a delta hold one to four runs). The two bit sets are walked
 * side by side, so the length needs no load. Up to three slots past the last run,
 * and the length of a run the word leaves open, get values that mean nothing; the
 * caller leaves room for them and writes the open run's length when it ends.
 */
// @ts-ignore: decorator
@inline function writeRuns(at: usize, starts: u64, ends: u64, base: u32): void {
  do {
    let s0 = <u32>ctz(starts); starts &= starts - 1;
    let e0 = <u32>ctz(ends); ends &= ends - 1;
    let s1 = <u32>ctz(starts); starts &= starts - 1;
    let e1 = <u32>ctz(ends); ends &= ends - 1;
    let s2 = <u32>ctz(starts); starts &= starts - 1;
    let e2 = <u32>ctz(ends); ends &= ends - 1;
    let s3 = <u32>ctz(starts); starts &= starts - 1;
    let e3 = <u32>ctz(ends); ends &= ends - 1;
    store<u32>(at, base + s0); store<u32>(at, e0 - s0, 4);
    store<u32>(at, base + s1, 8); store<u32>(at, e1 - s1, 12);
    store<u32>(at, base + s2, 16); store<u32>(at, e2 - s2, 20);
    store<u32>(at, base + s3, 24); store<u32>(at, e3 - s3, 28);
    at += 32;
  } while (starts != 0);
}

/**
 * Writes the runs of word `w` (bit 0 is block `base`) from slot `n` of `out` and returns
 * the new count; a run open before the word (`isOpen`, from `start`) goes on into its
 * bit 0. Runs start where a 1 follows a 0 and end where a 0 follows a 1, so the carried
 * run closes at the word's first end. The run the word leaves open, if any, has its
 * start in slot n of the returned count (the carried one too): read it back from there.
 * Needs 64 free slots past `n`.
 */
// @ts-ignore: decorator
@inline function wordRuns(out: usize, n: u32, w: u64, base: u32, isOpen: bool, start: u32): u32 {
  let shifted = (w << 1) | <u64>isOpen;
  let starts = w & ~shifted;
  let ends = ~w & shifted;
  let slots = out + (<usize>n << 3);
  if (isOpen) {
    store<u32>(slots, start);
    if (ends == 0) return n; // all ones: the run goes on
    store<u32>(slots, base + <u32>ctz(ends) - start, 4);
    ends &= ends - 1;
    slots += 8;
    n++;
  }
  if (starts != 0) {
    writeRuns(slots, starts, ends, base);
    n += <u32>popcnt(ends);
  }
  return n;
}

/**
 * Pages that gave at least this many extents (1.75 a word) are walked word by word
 * (runsByWords); sparser ones by the words that hold run edges (walkEdgeWords).
 * `node bench/lib/extent-walk.mjs --cases=holes:0.008,holes:0.016,holes:0.024,holes:0.032`
 * (pages of random holes; random bits alike): the edge walk takes 0.38 the time of
 * the word loop at half an extent a word, 0.59 at one, 0.85 at 1.5, and 1.1 at two,
 * where most words hold an edge and the word loop's four runs a step pay off.
 */
// @ts-ignore: decorator
@inline const DENSE_PAGE_RUNS: u32 = 896;

// @ts-ignore: decorator
@inline const PAGE_WORDS: u32 = PAGE_BYTES >> 3;

/**
 * Stores base + the bit number of each set bit of `bits`, in order, one every 8 bytes
 * from `at`, two a step. Most words the edge walk visits hold one or two; up to
 * one slot past the last gets a value that means nothing.
 */
// @ts-ignore: decorator
@inline function writeBitNumbers(at: usize, bits: u64, base: u32): void {
  do {
    let b0 = <u32>ctz(bits); bits &= bits - 1;
    let b1 = <u32>ctz(bits); bits &= bits - 1;
    store<u32>(at, base + b0);
    store<u32>(at, base + b1, 8);
    at += 16;
  } while (bits != 0);
}

/**
 * Writes the run edges of word `w` (bit 0 is block `base`) as (start, end) slots from
 * slot `n` of `out` and returns the new count. A run open before the word (`isOpen`)
 * has its start in slot n already and closes at the word's first end, so the word's
 * ends fill slots n, n + 1, ... and its starts slots n + isOpen, ...; the run the word
 * leaves open gets its start in the slot of the returned count. No branch depends on
 * the bits. Slots past the returned count, and the end of the open run, hold values
 * that mean nothing. Needs 64 free slots past `n`.
 */
// @ts-ignore: decorator
@inline function wordEdges(out: usize, n: u32, w: u64, base: u32, isOpen: bool): u32 {
  let shifted = (w << 1) | <u64>isOpen;
  let ends = ~w & shifted;
  let slots = out + (<usize>n << 3);
  writeBitNumbers(slots + 4, ends, base);
  writeBitNumbers(slots + (<usize>isOpen << 3), w & ~shifted, base);
  return n + <u32>popcnt(ends);
}

/**
 * The walk of a whole accumulated page whose words mostly hold no run edge. A page
 * of 64 words at a time is first summed up, one bit a word, by whether the word holds
 * an edge (a bit unlike the bit before it, which for bit 0 is bit 63 of the word
 * before); then only those words are read for runs, in order. The run state goes on
 * unchanged through the others, so no branch asks what a word holds: a word loop
 * mispredicts on every change between words with and without holes, which cost more
 * than the work. Writes from slot e.written while 64 slots are free past it; an open
 * run's start must be in that slot. Leaves the state in `e` (runStart not set) and
 * returns the word where it stopped for want of room, PAGE_WORDS when done. The slots
 * it wrote hold (start, end); the caller turns them into lengths.
 */
function walkEdgeWords(e: Extents, acc: usize, pageStart: u32, isOpen: bool): u32 {
  let out = e.out;
  let room = e.capacity - 64;
  let n = e.written;
  // Lane 1 is the word before word 0: all ones when a run comes into the page.
  let before = i64x2.splat(isOpen ? -1 : 0);
  for (let group: u32 = 0; group < PAGE_WORDS; group += 64) {
    let at = acc + (<usize>group << 3);
    let edges: u64 = 0;
    for (let i: u32 = 0; i < 32; i++) {
      let c = v128.load(at + (<usize>i << 4));
      // Each word's bit 0 compares with bit 63 of the word before it.
      let carried = i64x2.shr_u(i8x16.shuffle(before, c, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23), 63);
      let differs = v128.xor(c, v128.or(i64x2.shl(c, 1), carried));
      edges |= <u64>i64x2.bitmask(i64x2.ne(differs, i64x2.splat(0))) << (i << 1);
      before = c;
    }
    while (edges != 0) {
      let word = group + <u32>ctz(edges);
      edges &= edges - 1;
      let open = word == 0 ? isOpen : (load<u64>(acc + (<usize>(word - 1) << 3)) >> 63) != 0;
      if (n >= room) {
        e.open = open;
        e.written = n;
        return word;
      }
      n = wordEdges(out, n, load<u64>(acc + (<usize>word << 3)), pageStart + (word << 6), open);
    }
  }
  e.open = (load<u64>(acc + (<usize>(PAGE_BYTES - 8))) >> 63) != 0;
  e.written = n;
  return PAGE_WORDS;
}

/**
 * Emits the runs of blocks [lo, hi) of one accumulated page starting at block
 * `pageStart` (lo and hi lie within it); `state` says what the page holds.
 * Returns false when the buffer filled.
 */
export function runsInPage(e: Extents, state: u32, acc: usize, pageStart: u32, lo: u32, hi: u32): bool {
  if (state == ACC_ZERO) return closeRun(e, lo);
  if (state == ACC_ONES) {
    if (!e.open) {
      e.open = true;
      e.runStart = lo;
    }
    return true;
  }
  let first = lo - pageStart;
  let end = hi - pageStart;
  let before = e.written;
  if (first != 0 || end != PAGE_BLOCKS) {
    let done = runsByWords(e, acc, pageStart, first, end);
    // A part of a page (most often where a resumed call starts): its extents, scaled to
    // a whole page, choose the next page's walk, as a whole page's would. Left at 0, a
    // call resumed among dense pages walked its first whole page by edges, slowly.
    e.lastPageRuns = <u32>((<u64>(e.written - before) * PAGE_BLOCKS) / (end - first));
    return done;
  }
  let done = e.lastPageRuns < DENSE_PAGE_RUNS && e.capacity - before > 64
    ? runsByEdges(e, acc, pageStart)
    : runsByWords(e, acc, pageStart, 0, PAGE_BLOCKS);
  e.lastPageRuns = e.written - before;
  return done;
}

/**
 * A whole page by its edge words (walkEdgeWords) while there is room, then by words.
 * The edge walk keeps an open run's start in its slot and writes ends, which become
 * lengths before the word loop (or the next page) reads them.
 */
function runsByEdges(e: Extents, acc: usize, pageStart: u32): bool {
  let n = e.written;
  if (e.open) store<u32>(e.out + (<usize>n << 3), e.runStart);
  let word = walkEdgeWords(e, acc, pageStart, e.open);
  endsToLengths(e.out + (<usize>n << 3), e.written - n);
  if (e.open) e.runStart = load<u32>(e.out + (<usize>e.written << 3));
  return word == PAGE_WORDS || runsByWords(e, acc, pageStart, word << 6, PAGE_BLOCKS);
}

/**
 * Blocks [pageStart + first, pageStart + end) of an accumulated page, word by word.
 * A function of its own, not inlined into runsInPage with the edge walk: the two
 * loops in one function left V8 short of registers, and this loop 1.4 times slower.
 */
function runsByWords(e: Extents, acc: usize, pageStart: u32, first: u32, end: u32): bool {
  let word = first >> 6;
  let lastWord = (end - 1) >> 6;
  // The run state lives in locals while the page is scanned (each field is a memory
  // access) and goes back to the emitter on every way out.
  let isOpen = e.open;
  let start = e.runStart;
  let n = e.written;
  while (word <= lastWord) {
    // Whole 16-byte chunks that change nothing are skipped (zeros with no run open,
    // ones with a run open); edge words are masked to the range.
    if ((word & 1) == 0 && word + 1 < lastWord && word << 6 >= first) {
      let chunk = v128.load(acc + (<usize>word << 3));
      if (isOpen ? !v128.any_true(v128.not(chunk)) : !v128.any_true(chunk)) {
        word += 2;
        continue;
      }
    }
    let w = load<u64>(acc + (<usize>word << 3));
    let bit0 = word << 6;
    if (bit0 < first) w &= <u64>-1 << (first - bit0);
    if (bit0 + 64 > end) w &= (<u64>1 << (end - bit0)) - 1;
    let base = pageStart + bit0;
    if (e.capacity - n > 64) {
      // Room for every run of the word. An open run is only ever carried into a word
      // at its bit 0 (ranges start mid-word only on a fresh call, with no run open).
      n = wordRuns(e.out, n, w, base, isOpen, start);
      isOpen = (w >> 63) != 0;
      if (isOpen) start = load<u32>(e.out + (<usize>n << 3));
      word++;
      continue;
    }
    while (true) {
      if (!isOpen) {
        if (w == 0) break;
        let s = <u32>ctz(w);
        start = base + s;
        isOpen = true;
        w |= (<u64>1 << s) - 1;
      }
      let zeros = ~w;
      if (zeros == 0) break;
      let endBit = <u32>ctz(zeros);
      if (n == e.capacity) return keep(e, true, start, n);
      let at = e.out + (<usize>n << 3);
      store<u32>(at, start);
      store<u32>(at, base + endBit - start, 4);
      n++;
      isOpen = false;
      w &= ~((<u64>2 << endBit) - 1); // drop bits 0..endBit (for endBit = 63, 2 << 63 wraps to 0)
    }
    word++;
  }
  keep(e, isOpen, start, n);
  // The masked tail already closed any run that ends at hi < page end.
  return true;
}

/**
 * As runsInPage for a page marked from sparse lists (lib/sparse-lists.ts): the set
 * bits of blocks [pageStart + first, pageStart + end) are in the accumulator words
 * that `summary` names (one bit per word, 64 bytes), and only those words are read
 * (the others hold anything). Every marked bit lies in the range. A word not named
 * is zero, so an open run ends where it starts. Same extents, in the same order, as
 * runsInPage over the same bits.
 */
export function runsInWords(e: Extents, acc: usize, summary: usize, pageStart: u32, first: u32, end: u32): bool {
  let out = e.out;
  let capacity = e.capacity;
  let isOpen = e.open;
  let start = e.runStart;
  let n = e.written;
  // The word an open run would continue into (a run comes into a page only at bit 0).
  let next = first >> 6;
  // The summary's words that name any word (one bit each), and how many words it names.
  let groups: u32 = 0;
  let words: u32 = 0;
  for (let s: u32 = 0; s < 8; s++) {
    let t = load<u64>(summary + (<usize>s << 3));
    groups |= select<u32>(1, 0, t != 0) << s;
    words += <u32>popcnt(t);
  }
  // One loop trip a named word, stepping to the next summary word by selects, not
  // branches: a loop per summary word mispredicted its exit about once a word (most
  // name one to three words, at random), which cost more than reading them.
  let s: u32 = 0;
  let touched: u64 = 0;
  for (let i: u32 = 0; i < words; i++) {
    let refill = touched == 0;
    let nextGroup = <u32>ctz(groups) & 7; // in bounds when groups is 0 (then unused)
    s = select<u32>(nextGroup, s, refill);
    touched = select<u64>(load<u64>(summary + (<usize>nextGroup << 3)), touched, refill);
    groups = select<u32>(groups & (groups - 1), groups, refill);
    let word = (s << 6) + <u32>ctz(touched);
    touched &= touched - 1;
    if (isOpen && word != next) {
      if (n == capacity) return keep(e, true, start, n);
      let at = out + (<usize>n << 3);
      store<u32>(at, start);
      store<u32>(at, pageStart + (next << 6) - start, 4);
      n++;
      isOpen = false;
    }
    let w = load<u64>(acc + (<usize>word << 3));
    let base = pageStart + (word << 6);
    while (true) {
      if (!isOpen) {
        if (w == 0) break;
        let b = <u32>ctz(w);
        start = base + b;
        isOpen = true;
        w |= (<u64>1 << b) - 1;
      }
      let zeros = ~w;
      if (zeros == 0) break;
      let endBit = <u32>ctz(zeros);
      if (n == capacity) return keep(e, true, start, n);
      let at = out + (<usize>n << 3);
      store<u32>(at, start);
      store<u32>(at, base + endBit - start, 4);
      n++;
      isOpen = false;
      w &= ~((<u64>2 << endBit) - 1); // drop bits 0..endBit (for endBit = 63, 2 << 63 wraps to 0)
    }
    next = word + 1;
  }
  keep(e, isOpen, start, n);
  // A run still open past the last marked word ends there, unless that is the range's end.
  if (isOpen && next << 6 < end) return closeRun(e, pageStart + (next << 6));
  return true;
}

/** Ends a scan of [.., end): closes the last run, stores where to resume, returns the count. */
export function finishScan(e: Extents, cursor: usize, end: u32): u32 {
  closeRun(e, end);
  return stopScan(e, cursor, end);
}

/** Turns `n` (start, end) slots at `out` into (start, length), two slots a step. */
function endsToLengths(out: usize, n: u32): void {
  let at = out;
  let stop = out + (<usize>(n & ~1) << 3);
  while (at < stop) {
    let v = v128.load(at);
    // (s0, e0, s1, e1) - (0, s0, 0, s1); lane 4 of the shuffle is lane 0 of the zeros.
    v128.store(at, i32x4.sub(v, i32x4.shuffle(v, i32x4.splat(0), 4, 0, 4, 2)));
    at += 16;
  }
  if (n & 1) store<u32>(at, load<u32>(at, 4) - load<u32>(at), 4);
}

/** Stops a scan early (buffer full) or at its end; stores where to resume. */
export function stopScan(e: Extents, cursor: usize, end: u32): u32 {
  store<u32>(cursor, resumePoint(e, end));
  return e.written;
}
