// Extent output shared by the scan kernels, as assembly/lib/extents.ts has it: a run
// is written only when its end is known, so a full buffer stops the scan at the
// start of the run it could not write.
//
// The emitter's state for one scan call is an Extents object the kernel makes with
// beginExtents and passes down, not module state, so a kernel call owns all of it.

import { ACC_ONES, ACC_ZERO, type Heap } from './layout.js';

/** One scan call's output: the buffer, how much of it is written, the run still open. */
export class Extents {
  readonly heap: Heap;
  /** The output buffer as a u32 index: extent i is (start, length) at out + 2i. */
  readonly out: number;
  readonly capacity: number;
  written = 0;
  open = false;
  runStart = 0;

  constructor(heap: Heap, out: number, capacity: number) {
    this.heap = heap;
    this.out = out;
    this.capacity = capacity;
  }
}

/** Starts a scan that writes at most `cap` extents to byte offset `buffer`. */
export function beginExtents(heap: Heap, buffer: number, cap: number): Extents {
  return new Extents(heap, buffer >>> 2, cap);
}

/** Closes the open run at `end`; false when the buffer is full. */
export function closeRun(e: Extents, end: number): boolean {
  if (!e.open) return true;
  if (e.written === e.capacity) return false;
  e.heap.u32[e.out + e.written * 2] = e.runStart;
  e.heap.u32[e.out + e.written * 2 + 1] = end - e.runStart;
  e.written++;
  e.open = false;
  return true;
}

/** Stores the run state a page loop kept in locals. */
function keep(e: Extents, isOpen: boolean, start: number, n: number): void {
  e.open = isOpen;
  e.runStart = start;
  e.written = n;
}

/** Stores the state of a page loop whose buffer is full (the run at `start` is still open); false. */
function full(e: Extents, start: number, n: number): boolean {
  keep(e, true, start, n);
  return false;
}

function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Emits the runs of blocks [lo, hi) of one accumulated page starting at `pageStart`. */
export function runsInPage(e: Extents, state: number, acc: number, pageStart: number, lo: number, hi: number): boolean {
  if (state === ACC_ZERO) return closeRun(e, lo);
  if (state === ACC_ONES) {
    if (!e.open) {
      e.open = true;
      e.runStart = lo;
    }
    return true;
  }
  const u32 = e.heap.u32;
  const first = lo - pageStart;
  const end = hi - pageStart;
  const base = acc >>> 2;
  const lastWord = (end - 1) >>> 5;
  // The run state lives in locals while the page is scanned and goes back to the
  // emitter (e) on every way out.
  const out = e.out;
  const capacity = e.capacity;
  let isOpen = e.open;
  let start = e.runStart;
  let n = e.written;
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
      const endBit = ctz(zeros);
      if (n === capacity) return full(e, start, n);
      u32[out + n * 2] = start;
      u32[out + n * 2 + 1] = blocks + endBit - start;
      n++;
      isOpen = false;
      w = endBit === 31 ? 0 : w & ~((2 << endBit) - 1);
    }
  }
  keep(e, isOpen, start, n);
  return true;
}

/**
 * As runsInPage for a page marked from sparse lists (lib/sparse-lists.ts): the set
 * bits of blocks [pageStart + first, pageStart + end) are in the accumulator words
 * that the summary at byte offset `summary` names (one bit per u32 word, 32 words),
 * and only those are read; every marked bit lies in the range. Same extents, in the
 * same order, as runsInPage over the same bits.
 */
export function runsInWords(
  e: Extents, acc: number, summary: number, pageStart: number, first: number, end: number,
): boolean {
  const u32 = e.heap.u32;
  const out = e.out;
  const capacity = e.capacity;
  let isOpen = e.open;
  let start = e.runStart;
  let n = e.written;
  // The word an open run would continue into (a run comes into a page only at bit 0).
  let next = first >>> 5;
  for (let s = 0; s < 32; s++) {
    let touched = u32[(summary >>> 2) + s]! | 0;
    while (touched !== 0) {
      const word = (s << 5) + ctz(touched);
      touched &= touched - 1;
      if (isOpen && word !== next) {
        if (n === capacity) return full(e, start, n);
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
        const endBit = ctz(zeros);
        if (n === capacity) return full(e, start, n);
        u32[out + n * 2] = start;
        u32[out + n * 2 + 1] = blocks + endBit - start;
        n++;
        isOpen = false;
        w = endBit === 31 ? 0 : w & ~((2 << endBit) - 1);
      }
      next = word + 1;
    }
  }
  keep(e, isOpen, start, n);
  // A run still open past the last marked word ends there, unless that is the range's end.
  if (isOpen && next * 32 < end) return closeRun(e, pageStart + next * 32);
  return true;
}

/** Ends a scan of [.., end): closes the last run, stores where to resume, returns the count. */
export function finishScan(e: Extents, cursor: number, end: number): number {
  closeRun(e, end);
  return stopScan(e, cursor, end);
}

/** Stops a scan early (buffer full) or at its end; stores where to resume, returns the count. */
export function stopScan(e: Extents, cursor: number, end: number): number {
  e.heap.u32[cursor >>> 2] = e.open ? e.runStart : end;
  return e.written;
}
