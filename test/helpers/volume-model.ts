// A plain in-memory model of one volume and its checkpoint queue, written straight
// from DESIGN.md §2 (and the granule rules of src/volume/volume.ts): the image is one
// byte array (what a reader sees, so blocks of granules not in use are zeros), the
// meta bit map one byte (0/1) per granule of 2^g blocks.
//
// For the near-minimality of deltas the model keeps a clock and, per block, the time
// it last changed: a write (every block of a granule coming into use counts), a
// discard (every discarded block), an import (every block a record names); a
// restore(C) counts as changing every block changed since C was made (the restore
// may rewrite any of them and nothing else) and every block whose granule it brings
// into use. Every checkpoint keeps a copy of these times, so for delta(L, M) a data
// block must have changed in (time(L), time(M)].

export interface ModelCheckpoint {
  name: string;
  /** The clock when it was made. */
  time: number;
  image: Uint8Array;
  meta: Uint8Array;
  /** Per block, the time of its last change up to `time`. */
  changed: Int32Array;
}

export interface ModelExtent {
  kind: 'data' | 'unused';
  start: number;
  count: number;
}

export class VolumeModel {
  /** Changed only by resize. */
  blocks: number;
  readonly blockSize: number;
  readonly granularity: number;
  /** Changed only by resize. */
  granules: number;
  image: Uint8Array;
  meta: Uint8Array;
  changed: Int32Array;
  time = 0;
  checkpoints: ModelCheckpoint[] = [];

  constructor(blocks: number, blockSize: number, granularity: number) {
    this.blocks = blocks;
    this.blockSize = blockSize;
    this.granularity = granularity;
    this.granules = Math.ceil(blocks / 2 ** granularity);
    this.image = new Uint8Array(blocks * blockSize);
    this.meta = new Uint8Array(this.granules);
    this.changed = new Int32Array(blocks).fill(-1);
  }

  get size(): number {
    return this.blocks * this.blockSize;
  }

  granuleOf(block: number): number {
    return block >>> this.granularity;
  }

  /** Blocks [first, end) of granule k (the last granule may be short). */
  granuleBlocks(k: number): [number, number] {
    const g = 2 ** this.granularity;
    return [k * g, Math.min(this.blocks, (k + 1) * g)];
  }

  inUse(block: number, meta: Uint8Array = this.meta): boolean {
    return meta[this.granuleOf(block)] === 1;
  }

  #touch(first: number, end: number): void {
    for (let b = first; b < end; b++) this.changed[b] = this.time;
  }

  /** write(offset, data): whole blocks are rewritten; a granule coming into use is zeros around the data. */
  write(offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    this.time++;
    const size = this.blockSize;
    const first = Math.floor(offset / size);
    const end = Math.ceil((offset + data.length) / size);
    for (let k = this.granuleOf(first); k <= this.granuleOf(end - 1); k++) {
      if (this.meta[k] === 1) continue;
      // Not in use: it reads as zeros already; now all of it is written (zeros) and in use.
      const [lo, hi] = this.granuleBlocks(k);
      this.image.fill(0, lo * size, hi * size);
      this.#touch(lo, hi);
      this.meta[k] = 1;
    }
    this.image.set(data, offset);
    this.#touch(first, end);
  }

  /** discard(first, count) in blocks: whole granules (the short last one when the range reaches the end) stop being in use. */
  discard(first: number, count: number): void {
    if (count === 0) return;
    this.time++;
    const end = first + count;
    this.image.fill(0, first * this.blockSize, end * this.blockSize);
    this.#touch(first, end);
    for (let k = this.granuleOf(first); k <= this.granuleOf(end - 1); k++) {
      const [lo, hi] = this.granuleBlocks(k);
      if (lo >= first && hi <= end) this.meta[k] = 0;
    }
  }

  createCheckpoint(name: string): ModelCheckpoint {
    this.time++;
    const ckpt: ModelCheckpoint = {
      name, time: this.time, image: this.image.slice(), meta: this.meta.slice(), changed: this.changed.slice(),
    };
    this.checkpoints.push(ckpt);
    return ckpt;
  }

  find(name: string): ModelCheckpoint {
    const ckpt = this.checkpoints.find((c) => c.name === name);
    if (!ckpt) throw new Error(`model: no checkpoint ${name}`);
    return ckpt;
  }

  indexOf(name: string): number {
    return this.checkpoints.findIndex((c) => c.name === name);
  }

  deleteCheckpoint(name: string): void {
    const i = this.indexOf(name);
    if (i < 0) throw new Error(`model: no checkpoint ${name}`);
    this.checkpoints.splice(i, 1);
  }

  restore(name: string): void {
    const ckpt = this.find(name);
    this.time++;
    for (let b = 0; b < this.blocks; b++) {
      // A block whose granule the restore brings back into use changed, as with a write.
      // Without resize that block was discarded after C (so changed > C's time), but a
      // block a grow added after C can be in use in C and never have been in use live.
      const comesIntoUse = this.inUse(b, ckpt.meta) && !this.inUse(b);
      if (this.changed[b]! > ckpt.time || comesIntoUse) this.changed[b] = this.time;
    }
    this.image = ckpt.image.slice();
    this.meta = ckpt.meta.slice();
  }

  /** An import made the live image `image` (meta `meta`), writing the blocks its records name. */
  imported(image: Uint8Array, meta: Uint8Array, records: readonly ModelExtent[]): void {
    this.time++;
    this.image = image.slice();
    this.meta = meta.slice();
    for (const r of records) this.#touch(r.start, r.start + r.count);
  }

  /**
   * The first block at or past `blocks` in use in the live volume or in a checkpoint
   * (what keeps a shrink to `blocks` from happening), with where, or undefined.
   */
  inUsePast(blocks: number): { block: number; where: string } | undefined {
    const states: Array<[string, Uint8Array]> = [['live', this.meta], ...this.checkpoints.map((c) => [c.name, c.meta] as [string, Uint8Array])];
    for (const [where, meta] of states) {
      for (let b = blocks; b < this.blocks; b++) if (this.inUse(b, meta)) return { block: b, where };
    }
    return undefined;
  }

  /**
   * resize(blocks): the live volume and every checkpoint are cut or grown; blocks past
   * the old end read as zeros, their granules not in use (a granule that was short
   * at the old end and in use stays in use, its new blocks zeros). A shrink must be
   * allowed (inUsePast undefined). Not a change of any block's content: no clock tick;
   * but a new block in a granule in use counts as changed when its image was taken (it
   * came into being in use, so a delta from an image without it may carry it).
   */
  resize(blocks: number): void {
    const granules = Math.ceil(blocks / 2 ** this.granularity);
    const bytes = blocks * this.blockSize;
    const fit = <T extends Uint8Array | Int32Array>(a: T, n: number, fill: number): T => {
      const out = new (a.constructor as new (n: number) => T)(n);
      out.fill(fill);
      out.set(a.subarray(0, Math.min(n, a.length)));
      return out;
    };
    const old = this.blocks;
    const cameInUse = (meta: Uint8Array, changed: Int32Array, time: number) => {
      for (let b = old; b < blocks; b++) if (meta[this.granuleOf(b)] === 1) changed[b] = time;
    };
    this.image = fit(this.image, bytes, 0);
    this.meta = fit(this.meta, granules, 0);
    this.changed = fit(this.changed, blocks, -1);
    cameInUse(this.meta, this.changed, this.time);
    for (const c of this.checkpoints) {
      c.image = fit(c.image, bytes, 0);
      c.meta = fit(c.meta, granules, 0);
      c.changed = fit(c.changed, blocks, -1);
      cameInUse(c.meta, c.changed, c.time);
    }
    this.blocks = blocks;
    this.granules = granules;
  }

  /** The image, meta map and change times of checkpoint `name`, or of the live volume (undefined). */
  state(name?: string): { image: Uint8Array; meta: Uint8Array; changed: Int32Array; time: number } {
    if (name === undefined) return { image: this.image, meta: this.meta, changed: this.changed, time: this.time };
    return this.find(name);
  }

  /** The image of a volume that holds nothing, as the older side of a full delta. */
  empty(): { image: Uint8Array; meta: Uint8Array; changed: Int32Array; time: number } {
    return { image: new Uint8Array(this.size), meta: new Uint8Array(this.granules), changed: new Int32Array(this.blocks).fill(-1), time: -1 };
  }

  /**
   * Checks the extents of delta(L, M) (L null: the empty image; M undefined: live) against the model; returns
   * a list of problems (empty when all is well). `data` gives the bytes of data extents
   * when known (delta), to check that applying the delta to image(L) gives image(M).
   */
  checkDelta(older: string | null, newer: string | undefined, extents: ReadonlyArray<ModelExtent & { data?: Uint8Array }>): string[] {
    const problems: string[] = [];
    const l = older === null ? this.empty() : this.find(older);
    const m = this.state(newer);
    const size = this.blockSize;
    const applied = l.image.slice();
    const isData = new Uint8Array(this.blocks);
    const isUnused = new Uint8Array(this.blocks);
    let next = 0;
    let withData = true;
    for (const e of extents) {
      const where = `${e.kind} extent [${e.start}, +${e.count})`;
      if (!Number.isInteger(e.start) || !Number.isInteger(e.count) || e.count <= 0 || e.start + e.count > this.blocks) {
        problems.push(`${where} is empty or outside the volume of ${this.blocks} blocks`);
        continue;
      }
      if (e.start < next) problems.push(`${where} is not after the previous extent (which ended at ${next})`);
      next = Math.max(next, e.start + e.count);
      for (let b = e.start; b < e.start + e.count; b++) {
        if (e.kind === 'data') {
          isData[b] = 1;
          if (!this.inUse(b, m.meta)) problems.push(`data block ${b} is not in use in M`);
          else if (m.changed[b]! <= l.time) {
            problems.push(`data block ${b} did not change after L (last change at t=${m.changed[b]}, L at t=${l.time})`);
          }
        } else {
          isUnused[b] = 1;
        }
      }
      if (e.kind === 'data') {
        if (e.data === undefined) withData = false;
        else if (e.data.length !== e.count * size) problems.push(`${where} carries ${e.data.length} bytes, not ${e.count * size}`);
        else applied.set(e.data, e.start * size);
      } else {
        applied.fill(0, e.start * size, (e.start + e.count) * size);
      }
    }
    for (let b = 0; b < this.blocks; b++) {
      const should = this.inUse(b, l.meta) && !this.inUse(b, m.meta);
      if (should && !isUnused[b]) problems.push(`block ${b} is in use in L and not in M but is in no unused extent`);
      if (!should && isUnused[b]) problems.push(`unused extent covers block ${b} (in use in L ${this.inUse(b, l.meta)}, in M ${this.inUse(b, m.meta)})`);
      if (isData[b] && isUnused[b]) problems.push(`block ${b} is in both a data and an unused extent`);
    }
    if (withData) {
      const bad = firstDifferentBlock(applied, m.image, size);
      if (bad >= 0) {
        problems.push(`applying the delta to image(L) does not give image(M): first differing block ${bad} `
          + `(in use in L ${this.inUse(bad, l.meta)}, in M ${this.inUse(bad, m.meta)}, in the delta: ${isData[bad] ? 'data' : isUnused[bad] ? 'unused' : 'no'})`);
      }
    }
    return problems.slice(0, 20);
  }
}

/** The first block where a and b differ, or -1. */
export function firstDifferentBlock(a: Uint8Array, b: Uint8Array, blockSize: number): number {
  if (a.length !== b.length) return Math.min(a.length, b.length) / blockSize;
  if (Buffer.compare(a, b) === 0) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return Math.floor(i / blockSize);
  return -1;
}
