// Extent output shared by the scan kernels, as assembly/lib/extents.ts has it: a run
// is written only when its end is known, so a full buffer stops the scan at the
// start of the run it could not write.

import { ACC_ONES, ACC_ZERO, type Heap } from './layout.js';

let heap: Heap;
let out = 0;
let capacity = 0;
let written = 0;
let open = false;
let runStart = 0;

/** Starts a scan that writes at most `cap` extents to byte offset `buffer`. */
export function beginExtents(h: Heap, buffer: number, cap: number): void {
  heap = h;
  out = buffer >>> 2;
  capacity = cap;
  written = 0;
  open = false;
  runStart = 0;
}

/** Closes the open run at `end`; false when the buffer is full. */
export function closeRun(end: number): boolean {
  if (!open) return true;
  if (written === capacity) return false;
  heap.u32[out + written * 2] = runStart;
  heap.u32[out + written * 2 + 1] = end - runStart;
  written++;
  open = false;
  return true;
}

function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Emits the runs of blocks [lo, hi) of one accumulated page starting at `pageStart`. */
export function runsInPage(state: number, acc: number, pageStart: number, lo: number, hi: number): boolean {
  if (state === ACC_ZERO) return closeRun(lo);
  if (state === ACC_ONES) {
    if (!open) {
      open = true;
      runStart = lo;
    }
    return true;
  }
  const u32 = heap.u32;
  const first = lo - pageStart;
  const end = hi - pageStart;
  const base = acc >>> 2;
  const lastWord = (end - 1) >>> 5;
  // The run state lives in locals while the page is scanned and goes back to the
  // module state on every way out.
  let isOpen = open;
  let start = runStart;
  let n = written;
  for (let word = first >>> 5; word <= lastWord; word++) {
    let w = u32[base + word]! | 0;
    // Words that change nothing: zeros with no run open, ones with a run open.
    if (w === (isOpen ? -1 : 0)) continue;
    const bit0 = word << 5;
    if (bit0 < first) w &= -1 << (first - bit0);
    if (bit0 + 32 > end) w &= (1 << (end - bit0)) - 1;
    const blocks = pageStart + bit0;
    for (;;) {
      if (!isOpen) {
        if (w === 0) break;
        const s = ctz(w);
        start = blocks + s;
        isOpen = true;
        w |= (1 << s) - 1;
      }
      const zeros = ~w;
      if (zeros === 0) break;
      const e = ctz(zeros);
      if (n === capacity) {
        open = true;
        runStart = start;
        written = n;
        return false;
      }
      u32[out + n * 2] = start;
      u32[out + n * 2 + 1] = blocks + e - start;
      n++;
      isOpen = false;
      w = e === 31 ? 0 : w & ~((2 << e) - 1);
    }
  }
  open = isOpen;
  runStart = start;
  written = n;
  return true;
}

/**
 * As runsInPage for a page marked from sparse lists (lib/sparse-lists.ts): the set
 * bits of blocks [pageStart + first, pageStart + end) are in the accumulator words
 * that the summary at byte offset `summary` names (one bit per u32 word, 32 words),
 * and only those are read; every marked bit lies in the range. Same extents, in the
 * same order, as runsInPage over the same bits.
 */
export function runsInWords(acc: number, summary: number, pageStart: number, first: number, end: number): boolean {
  const u32 = heap.u32;
  let isOpen = open;
  let start = runStart;
  let n = written;
  // The word an open run would continue into (a run comes into a page only at bit 0).
  let next = first >>> 5;
  for (let s = 0; s < 32; s++) {
    let touched = u32[(summary >>> 2) + s]! | 0;
    while (touched !== 0) {
      const word = (s << 5) + ctz(touched);
      touched &= touched - 1;
      if (isOpen && word !== next) {
        if (n === capacity) {
          open = true;
          runStart = start;
          written = n;
          return false;
        }
        u32[out + n * 2] = start;
        u32[out + n * 2 + 1] = pageStart + next * 32 - start;
        n++;
        isOpen = false;
      }
      let w = u32[(acc >>> 2) + word]! | 0;
      const blocks = pageStart + word * 32;
      for (;;) {
        if (!isOpen) {
          if (w === 0) break;
          const b = ctz(w);
          start = blocks + b;
          isOpen = true;
          w |= (1 << b) - 1;
        }
        const zeros = ~w;
        if (zeros === 0) break;
        const e = ctz(zeros);
        if (n === capacity) {
          open = true;
          runStart = start;
          written = n;
          return false;
        }
        u32[out + n * 2] = start;
        u32[out + n * 2 + 1] = blocks + e - start;
        n++;
        isOpen = false;
        w = e === 31 ? 0 : w & ~((2 << e) - 1);
      }
      next = word + 1;
    }
  }
  open = isOpen;
  runStart = start;
  written = n;
  // A run still open past the last marked word ends there, unless that is the range's end.
  if (isOpen && next * 32 < end) return closeRun(pageStart + next * 32);
  return true;
}

/** Ends a scan of [.., end): closes the last run, stores where to resume, returns the count. */
export function finishScan(cursor: number, end: number): number {
  closeRun(end);
  return stopScan(cursor, end);
}

/** Stops a scan early (buffer full) or at its end; stores where to resume. */
export function stopScan(cursor: number, end: number): number {
  heap.u32[cursor >>> 2] = open ? runStart : end;
  return written;
}
