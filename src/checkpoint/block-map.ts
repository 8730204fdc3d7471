// A checkpoint's block map (FIG. 44): block index -> position of its before-image in
// the checkpoint's save volume (the record index). An open-addressing hash table on
// typed arrays: 8 bytes a slot, at most half full, no per-entry objects.

const EMPTY = 0;

function hash(block: number): number {
  // Fibonacci hashing of the block index spreads runs of neighbouring blocks.
  return Math.imul(block + 1, 0x9e3779b1) >>> 0;
}

export class BlockMap {
  #keys: Uint32Array; // block + 1; 0 is empty
  #values: Uint32Array;
  #size = 0;

  constructor(capacity = 16) {
    let slots = 16;
    while (slots < capacity * 2) slots *= 2;
    this.#keys = new Uint32Array(slots);
    this.#values = new Uint32Array(slots);
  }

  get size(): number {
    return this.#size;
  }

  /** The record index of `block`'s before-image, or -1. */
  get(block: number): number {
    const mask = this.#keys.length - 1;
    const key = block + 1;
    for (let slot = hash(block) & mask; ; slot = (slot + 1) & mask) {
      const k = this.#keys[slot]!;
      if (k === key) return this.#values[slot]!;
      if (k === EMPTY) return -1;
    }
  }

  has(block: number): boolean {
    return this.get(block) !== -1;
  }

  /** Records `block` at `record` unless it is there already (the first before-image counts). */
  add(block: number, record: number): boolean {
    if ((this.#size + 1) * 2 > this.#keys.length) this.#grow();
    const mask = this.#keys.length - 1;
    const key = block + 1;
    for (let slot = hash(block) & mask; ; slot = (slot + 1) & mask) {
      const k = this.#keys[slot]!;
      if (k === key) return false;
      if (k === EMPTY) {
        this.#keys[slot] = key;
        this.#values[slot] = record;
        this.#size++;
        return true;
      }
    }
  }

  #grow(): void {
    const keys = this.#keys;
    const values = this.#values;
    this.#keys = new Uint32Array(keys.length * 2);
    this.#values = new Uint32Array(keys.length * 2);
    this.#size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) this.add(keys[i]! - 1, values[i]!);
  }
}
