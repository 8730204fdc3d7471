// The arena: one linear memory shared with the kernels, carved into 4 KiB pages
// (bit map pages) and page-multiple runs (page tables, scan buffers). Offsets are
// what the kernels take; nothing is copied between the two sides.

import { ARENA_BASE, type BackendChoice, type Kernels, PAGE_BYTES } from '../kernels/api.js';
import { loadKernels } from '../kernels/load.js';
import { SnapcopyError, invalidArgument } from '../errors.js';

export interface ArenaOptions {
  /** Which kernel backend runs on this arena: 'auto' (default), 'wasm' or 'ts'. */
  kernels?: BackendChoice | Kernels;
}

export interface ArenaStats {
  backend: Kernels['backend'];
  /** Bytes of the memory the backend holds. */
  memoryBytes: number;
  /** Bytes handed out and not yet freed. */
  bytesInUse: number;
}

export class Arena {
  readonly kernels: Kernels;
  #top = ARENA_BASE;
  #inUse = 0;
  // Freed runs by their size in pages; a freed run is only reused at its own size.
  #free = new Map<number, number[]>();
  #buffer: ArrayBuffer | undefined;
  #u8 = new Uint8Array(0);
  #u32 = new Uint32Array(0);

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

  #refresh(): void {
    const buffer = this.kernels.memory.buffer;
    if (buffer === this.#buffer && this.#u8.byteLength === buffer.byteLength) return;
    this.#buffer = buffer;
    this.#u8 = new Uint8Array(buffer);
    this.#u32 = new Uint32Array(buffer);
  }

  /** A zeroed run of whole pages, 4 KiB aligned, holding at least `bytes`. */
  alloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw invalidArgument(`cannot allocate ${bytes} bytes`);
    const pages = Math.ceil(bytes / PAGE_BYTES);
    const size = pages * PAGE_BYTES;
    const reused = this.#free.get(pages)?.pop();
    let offset: number;
    if (reused !== undefined) {
      offset = reused;
      this.u8.fill(0, offset, offset + size);
    } else {
      offset = this.#top;
      this.#reserve(offset + size);
      this.#top += size;
    }
    this.#inUse += size;
    return offset;
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
    return { backend: this.backend, memoryBytes: this.kernels.memory.buffer.byteLength, bytesInUse: this.#inUse };
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
