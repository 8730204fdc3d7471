// The arena: one linear memory shared with the kernels, carved into 4 KiB pages
// (bit map pages) and page-multiple runs (page tables, scan buffers), and small
// slots for sparse bit map pages. Offsets are what the kernels take; nothing is
// copied between the two sides.

import { ARENA_BASE, ARENA_SLACK, type BackendChoice, type Kernels, PAGE_BYTES } from '../kernels/api.js';
import { loadKernels } from '../kernels/load.js';
import { FreeSlots } from './free-slots.js';
import { SnapcopyError, invalidArgument } from '../errors.js';

export interface ArenaOptions {
  /** Which kernel backend runs on this arena: 'auto' (default), 'wasm' or 'ts'. */
  kernels?: BackendChoice | Kernels;
}

export interface ArenaStats {
  backend: Kernels['backend'];
  /** Bytes of the memory the backend holds. */
  memoryBytes: number;
  /** Bytes handed out and not yet freed (page runs and small slots, each at its full size). */
  bytesInUse: number;
  /** Bytes of pages carved into small slots, in use or free (never given back as pages). */
  slabBytes: number;
}

/**
 * Sizes of the small slots (sparse bit map pages): multiples of 64 carved from 4 KiB
 * pages, so every slot is 16-byte aligned and its low four bits are free for a tag.
 */
export const SMALL_SLOT_BYTES = [64, 128, 256, 512] as const;
export const SMALL_MAX = 512;

/** The slot size allocSmall(bytes) hands out. */
export function smallSlotBytes(bytes: number): number {
  for (const size of SMALL_SLOT_BYTES) if (bytes <= size) return size;
  throw invalidArgument(`a small slot holds at most ${SMALL_MAX} bytes, not ${bytes}`);
}

export class Arena {
  readonly kernels: Kernels;
  #top = ARENA_BASE;
  #inUse = 0;
  // Freed runs by their size in pages; a freed run is only reused at its own size.
  #free = new Map<number, number[]>();
  // Free small slots by their size, lowest offset first; a page carved into slots stays slots.
  #slots = new Map<number, FreeSlots>();
  #slabBytes = 0;
  #buffer: ArrayBuffer | undefined;
  #u8 = new Uint8Array(0);
  #u32 = new Uint32Array(0);
  #u16 = new Uint16Array(0);

  constructor(options: ArenaOptions = {}) {
    const k = options.kernels;
    this.kernels = typeof k === 'object' ? k : loadKernels(k ?? 'auto');
  }

  get backend(): Kernels['backend'] {
    return this.kernels.backend;
  }

  /** Bytes of the arena (the view changes object when a WebAssembly memory grows). */
  get u8(): Uint8Array {
    this.#refresh();
    return this.#u8;
  }

  /** The arena as u32 words (offset / 4). */
  get u32(): Uint32Array {
    this.#refresh();
    return this.#u32;
  }

  /** The arena as u16 words (offset / 2), little-endian as the kernels read them. */
  get u16(): Uint16Array {
    this.#refresh();
    return this.#u16;
  }

  #refresh(): void {
    const buffer = this.kernels.memory.buffer;
    if (buffer === this.#buffer && this.#u8.byteLength === buffer.byteLength) return;
    this.#buffer = buffer;
    this.#u8 = new Uint8Array(buffer);
    this.#u32 = new Uint32Array(buffer);
    this.#u16 = new Uint16Array(buffer);
  }

  /** A zeroed run of whole pages, 4 KiB aligned, holding at least `bytes`. */
  alloc(bytes: number): number {
    return this.#allocRun(bytes, true);
  }

  /**
   * A run of whole pages holding at least `bytes`, as alloc gives, but not zeroed when
   * reused: scratch for kernel calls, which write before they read. Freed with free().
   */
  allocScratch(bytes: number): number {
    return this.#allocRun(bytes, false);
  }

  #allocRun(bytes: number, zero: boolean): number {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw invalidArgument(`cannot allocate ${bytes} bytes`);
    const pages = Math.ceil(bytes / PAGE_BYTES);
    const offset = this.#takeRun(pages, zero);
    this.#inUse += pages * PAGE_BYTES;
    return offset;
  }

  /** A run of `pages` pages (zeroed unless `zero` is false), not yet counted as in use. */
  #takeRun(pages: number, zero: boolean): number {
    const size = pages * PAGE_BYTES;
    const reused = this.#free.get(pages)?.pop();
    if (reused !== undefined) {
      if (zero) this.u8.fill(0, reused, reused + size);
      return reused;
    }
    const offset = this.#top;
    this.#reserve(offset + size + ARENA_SLACK);
    this.#top += size;
    return offset;
  }

  /**
   * A zeroed slot of at least `bytes` (1..SMALL_MAX), 16-byte aligned: one of
   * SMALL_SLOT_BYTES, carved from a page and reused once freed.
   */
  allocSmall(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes > SMALL_MAX) {
      throw invalidArgument(`a small slot holds 1 to ${SMALL_MAX} bytes, not ${bytes}`);
    }
    const size = smallSlotBytes(bytes);
    let list = this.#slots.get(size);
    if (!list) this.#slots.set(size, (list = new FreeSlots()));
    if (list.size === 0) this.#carve(size, list);
    const offset = list.pop()!;
    this.u8.fill(0, offset, offset + size);
    this.#inUse += size;
    return offset;
  }

  /** Gives back a slot from allocSmall(bytes) with the same `bytes` (or any that maps to its size). */
  freeSmall(offset: number, bytes: number): void {
    const size = smallSlotBytes(bytes);
    this.#slots.get(size)!.push(offset);
    this.#inUse -= size;
  }

  /** One page as free slots of `size`. */
  #carve(size: number, list: FreeSlots): void {
    const page = this.#takeRun(1, true);
    this.#slabBytes += PAGE_BYTES;
    for (let at = page; at < page + PAGE_BYTES; at += size) list.push(at);
  }

  /** Gives back a run from alloc(bytes) with the same `bytes`. */
  free(offset: number, bytes: number): void {
    const pages = Math.ceil(bytes / PAGE_BYTES);
    let list = this.#free.get(pages);
    if (!list) this.#free.set(pages, (list = []));
    list.push(offset);
    this.#inUse -= pages * PAGE_BYTES;
  }

  /** One zeroed bit map page. */
  allocPage(): number {
    return this.alloc(PAGE_BYTES);
  }

  freePage(offset: number): void {
    this.free(offset, PAGE_BYTES);
  }

  stats(): ArenaStats {
    return {
      backend: this.backend, memoryBytes: this.kernels.memory.buffer.byteLength, bytesInUse: this.#inUse, slabBytes: this.#slabBytes,
    };
  }

  #reserve(end: number): void {
    const memory = this.kernels.memory;
    if (end <= memory.buffer.byteLength) return;
    // Grow by half again at least, so a growing arena copies (ts) or remaps (wasm) rarely.
    const want = Math.min(memory.maxBytes, Math.max(end, Math.floor(memory.buffer.byteLength * 1.5)));
    if (!memory.grow(want) && !memory.grow(end)) {
      throw new SnapcopyError('ERR_ARENA_FULL',
        `the ${this.backend} arena cannot grow to ${end} bytes (at most ${memory.maxBytes})`);
    }
  }
}
