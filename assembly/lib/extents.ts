// Extent output shared by the scan kernels: runs of set bits become (start, length)
// pairs of u32 in an output buffer. A run is written only when its end is known, so
// when the buffer is full the scan stops at the start of the run it could not write,
// and a second call from there neither splits nor repeats an extent.

import { ACC_MIXED, ACC_ONES, ACC_ZERO } from "./layout";

let out: usize = 0;
let capacity: u32 = 0;
let written: u32 = 0;
let open: bool = false;
let runStart: u32 = 0;

/** Starts a scan that writes at most `cap` extents to `buffer`. */
export function beginExtents(buffer: usize, cap: u32): void {
  out = buffer;
  capacity = cap;
  written = 0;
  open = false;
  runStart = 0;
}

/** Where a stopped scan resumes: the start of the run it could not write, else `end`. */
export function resumePoint(end: u32): u32 {
  return open ? runStart : end;
}

/** Closes the open run at `end`; false when the buffer is full. */
export function closeRun(end: u32): bool {
  if (!open) return true;
  if (written == capacity) return false;
  let at = out + (<usize>written << 3);
  store<u32>(at, runStart);
  store<u32>(at, end - runStart, 4);
  written++;
  open = false;
  return true;
}

/**
 * Emits the runs of blocks [lo, hi) of one accumulated page starting at block
 * `pageStart` (lo and hi lie within it); `state` says what the page holds.
 * Returns false when the buffer filled.
 */
export function runsInPage(state: u32, acc: usize, pageStart: u32, lo: u32, hi: u32): bool {
  if (state == ACC_ZERO) return closeRun(lo);
  if (state == ACC_ONES) {
    if (!open) {
      open = true;
      runStart = lo;
    }
    return true;
  }
  let first = lo - pageStart;
  let end = hi - pageStart;
  let word = first >> 6;
  let lastWord = (end - 1) >> 6;
  // The run state lives in locals while the page is scanned (globals cost a memory
  // access each in most engines) and goes back to the globals on every way out.
  let isOpen = open;
  let start = runStart;
  let n = written;
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
    if (capacity - n > 64) {
      // Room for every run of the word: runs start where a 1 follows a 0 and end where
      // a 0 follows a 1 (the carry says whether one was open). Starts are written
      // first, then each end turns its start into a length: two loops of popcount
      // trips each, no branch per bit. An open run is only ever carried into a word
      // at its bit 0 (ranges start mid-word only on a fresh call, with no run open).
      let shifted = (w << 1) | <u64>isOpen;
      let starts = w & ~shifted;
      let ends = ~w & shifted;
      if (isOpen) store<u32>(out + (<usize>n << 3), start);
      let at = out + ((<usize>n + <usize>isOpen) << 3);
      while (starts != 0) {
        store<u32>(at, base + <u32>ctz(starts));
        at += 8;
        starts &= starts - 1;
      }
      at = out + (<usize>n << 3);
      while (ends != 0) {
        store<u32>(at, base + <u32>ctz(ends) - load<u32>(at), 4);
        at += 8;
        ends &= ends - 1;
      }
      n = <u32>((at - out) >> 3);
      isOpen = (w >> 63) != 0;
      if (isOpen) start = load<u32>(at);
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
      let e = <u32>ctz(zeros);
      if (n == capacity) {
        open = true;
        runStart = start;
        written = n;
        return false;
      }
      let at = out + (<usize>n << 3);
      store<u32>(at, start);
      store<u32>(at, base + e - start, 4);
      n++;
      isOpen = false;
      w &= ~((<u64>2 << e) - 1); // drop bits 0..e (for e = 63, 2 << 63 wraps to 0)
    }
    word++;
  }
  open = isOpen;
  runStart = start;
  written = n;
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
export function runsInWords(acc: usize, summary: usize, pageStart: u32, first: u32, end: u32): bool {
  let isOpen = open;
  let start = runStart;
  let n = written;
  // The word an open run would continue into (a run comes into a page only at bit 0).
  let next = first >> 6;
  for (let s: u32 = 0; s < 8; s++) {
    let touched = load<u64>(summary + (<usize>s << 3));
    while (touched != 0) {
      let word = (s << 6) + <u32>ctz(touched);
      touched &= touched - 1;
      if (isOpen && word != next) {
        if (n == capacity) {
          open = true;
          runStart = start;
          written = n;
          return false;
        }
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
        let e = <u32>ctz(zeros);
        if (n == capacity) {
          open = true;
          runStart = start;
          written = n;
          return false;
        }
        let at = out + (<usize>n << 3);
        store<u32>(at, start);
        store<u32>(at, base + e - start, 4);
        n++;
        isOpen = false;
        w &= ~((<u64>2 << e) - 1); // drop bits 0..e (for e = 63, 2 << 63 wraps to 0)
      }
      next = word + 1;
    }
  }
  open = isOpen;
  runStart = start;
  written = n;
  // A run still open past the last marked word ends there, unless that is the range's end.
  if (isOpen && next << 6 < end) return closeRun(pageStart + (next << 6));
  return true;
}

/** Ends a scan of [.., end): closes the last run, stores where to resume, returns the count. */
export function finishScan(cursor: usize, end: u32): u32 {
  closeRun(end);
  return stopScan(cursor, end);
}

/** Stops a scan early (buffer full) or at its end; stores where to resume. */
export function stopScan(cursor: usize, end: u32): u32 {
  store<u32>(cursor, resumePoint(end));
  return written;
}
