// The free small slots of one size, handed out lowest offset first (a binary min-heap).
// A map whose pages take slots in page order (loaded from its file, or packed when
// sealed) then holds them at ascending offsets, which the delta kernels read in that
// order: side by side in a fresh arena, and never scattered against the read order.

export class FreeSlots {
  readonly #heap: number[] = [];

  get size(): number {
    return this.#heap.length;
  }

  push(offset: number): void {
    const heap = this.#heap;
    let i = heap.length;
    heap.push(offset);
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      if (heap[parent]! <= offset) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = offset;
  }

  /** The lowest free offset, taken out; undefined when none is free. */
  pop(): number | undefined {
    const heap = this.#heap;
    const lowest = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return lowest;
    let i = 0;
    const n = heap.length;
    while (true) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const child = left + 1 < n && heap[left + 1]! < heap[left]! ? left + 1 : left;
      if (heap[child]! >= last) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return lowest;
  }
}
