// Which parts of a sparse file are still holes, so that reads of them need not touch
// the file.
//
// Why: the kernel caches a random read as 4 KiB pages, also a read of a hole, and a
// later write into those pages keeps them so. The first write to a block of a new
// volume read it twice before writing it (the nop-write compare, the space claim's
// read-back), so a volume filled block by block sat in the page cache as 4 KiB pages
// and read back at less than half the speed of the same bytes written without a read
// first (extents of 512 KiB: 7 against 17 GB/s here). Node and Deno offer neither
// fallocate nor SEEK_HOLE, so the volume keeps the knowledge itself.
//
// The file is cut into regions of 64 MiB. A region is untouched until its first write,
// and a small map file says which regions are untouched. The invariant: a region the
// durable map calls untouched holds only zeros. So the map is made durable before any
// write reaches a region it calls untouched, and whatever is not known (no map file, a
// damaged one, regions past its end after a resize) counts as written: reading the file
// is always right, skipping the read only where the map proves it a hole. Within this
// process, the pages of a region first written in it stay known holes until written.

import { crc32 } from './checksum.js';
import type { BlockFile } from './file.js';

const MAGIC = 'SCHOLE01';
const HEAD = 16;
const PAGE = 4096;
const PAGES_PER_REGION = 1 << 14;
const regionOf = (page: number): number => Math.floor(page / PAGES_PER_REGION);
const pageInRegion = (page: number): number => page % PAGES_PER_REGION;

/** The bytes of a map for a file of `bytes` that is one hole. */
export function encodeNewHoleMap(bytes: number): Uint8Array {
  const regions = Math.ceil(bytes / HoleMap.REGION);
  return encode(regions, new Uint8Array(Math.ceil(regions / 8)).fill(0xff));
}

function encode(regions: number, untouched: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEAD + untouched.length + 4);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(8, HoleMap.REGION_SHIFT, true);
  view.setUint32(12, regions, true);
  out.set(untouched, HEAD);
  view.setUint32(HEAD + untouched.length, crc32(out.subarray(0, HEAD + untouched.length)), true);
  return out;
}

/** The untouched bits of a map file, or undefined when it is not one this build wrote whole. */
function decode(bytes: Uint8Array | undefined): { regions: number; untouched: Uint8Array } | undefined {
  if (!bytes || bytes.length < HEAD + 4) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) return undefined;
  if (view.getUint32(8, true) !== HoleMap.REGION_SHIFT) return undefined;
  const regions = view.getUint32(12, true);
  const length = Math.ceil(regions / 8);
  if (bytes.length !== HEAD + length + 4) return undefined;
  if (view.getUint32(HEAD + length, true) !== crc32(bytes.subarray(0, HEAD + length))) return undefined;
  return { regions, untouched: bytes.slice(HEAD, HEAD + length) };
}

/** What is known about the holes of one file; see the head of this file. */
export class HoleMap {
  static readonly REGION_SHIFT = 26;
  static readonly REGION = 2 ** HoleMap.REGION_SHIFT; // PAGES_PER_REGION pages
  readonly #file: BlockFile | undefined;
  readonly #regions: number;
  /** A bit per region: set while the region is untouched. */
  readonly #untouched: Uint8Array;
  /** Regions first written in this process: a bit per page written since. */
  readonly #fresh = new Map<number, Uint32Array>();
  /** Regions still untouched (so a map that knows nothing costs a read one test). */
  #untouchedCount = 0;
  #persisting: Promise<void> = Promise.resolve();

  private constructor(file: BlockFile | undefined, regions: number, untouched: Uint8Array) {
    this.#file = file;
    this.#regions = regions;
    this.#untouched = untouched;
    for (let r = 0; r < regions; r++) if (this.#isUntouched(r)) this.#untouchedCount++;
  }

  /** The map kept in `file` (undefined: there is none, so nothing is known). */
  static async load(file: BlockFile | undefined): Promise<HoleMap> {
    if (!file) return new HoleMap(undefined, 0, new Uint8Array(0));
    const bytes = new Uint8Array(await file.size());
    await file.read(bytes, 0);
    const map = decode(bytes);
    if (map) return new HoleMap(file, map.regions, map.untouched);
    await file.close(); // not one this build can trust: nothing is known, and it is never written
    return new HoleMap(undefined, 0, new Uint8Array(0));
  }

  /** Whether anything is known to be a hole (else reads go straight to the file). */
  get knowsHoles(): boolean {
    return this.#fresh.size > 0 || this.#untouchedCount > 0;
  }

  #isUntouched(region: number): boolean {
    return region < this.#regions && (this.#untouched[region >>> 3]! & (1 << (region & 7))) !== 0;
  }

  /** Whether the 4 KiB page `page` of the file is known to hold only zeros. */
  isHole(page: number): boolean {
    const region = regionOf(page);
    if (this.#isUntouched(region)) return true;
    const written = this.#fresh.get(region);
    if (!written) return false;
    const at = pageInRegion(page);
    return (written[at >>> 5]! & (1 << (at & 31))) === 0;
  }

  /** The first page after `page` whose answer from isHole may differ (a region's pages are alike unless it is fresh). */
  nextBoundary(page: number): number {
    const region = regionOf(page);
    return this.#fresh.has(region) ? page + 1 : (region + 1) * PAGES_PER_REGION;
  }

  /**
   * To be awaited before `length` bytes are written at `position`: regions the map
   * calls untouched are marked touched, durably, first; then their pages are noted.
   */
  async beforeWrite(position: number, length: number): Promise<void> {
    if (length === 0) return;
    const first = Math.floor(position / PAGE);
    const end = Math.ceil((position + length) / PAGE);
    const regions: number[] = [];
    for (let r = regionOf(first); r <= regionOf(end - 1); r++) {
      if (this.#isUntouched(r)) regions.push(r);
    }
    if (regions.length > 0) await this.#touch(regions);
    for (let page = first; page < end; page++) {
      const region = regionOf(page);
      const written = this.#fresh.get(region);
      if (!written) {
        page = (region + 1) * PAGES_PER_REGION - 1;
        continue;
      }
      const at = pageInRegion(page);
      written[at >>> 5]! |= 1 << (at & 31);
    }
  }

  /** Marks regions touched on disk (one at a time, so two writers never race the file), then here. */
  #touch(regions: number[]): Promise<void> {
    const run = this.#persisting.then(async () => {
      const next = this.#untouched.slice();
      for (const r of regions) next[r >>> 3]! &= ~(1 << (r & 7));
      if (next.every((bits, i) => bits === this.#untouched[i])) return;
      await this.#file!.write(encode(this.#regions, next), 0);
      await this.#file!.sync();
      for (const r of regions) {
        if (!this.#isUntouched(r)) continue;
        this.#fresh.set(r, new Uint32Array(PAGES_PER_REGION / 32));
        this.#untouched[r >>> 3]! &= ~(1 << (r & 7));
        this.#untouchedCount--;
      }
    });
    this.#persisting = run.catch(() => undefined);
    return run;
  }

  close(): Promise<void> {
    return this.#file?.close() ?? Promise.resolve();
  }
}

/**
 * A file whose known holes are read as zeros without a read, and whose writes mark
 * their regions touched first (see the head of this file). Everything else passes through.
 */
export class HoleAwareFile implements BlockFile {
  constructor(readonly inner: BlockFile, readonly holes: HoleMap) {}

  get path(): string {
    return this.inner.path;
  }

  read(into: Uint8Array, position: number): Promise<void> {
    return this.#read(into, position, (part, at) => this.inner.read(part, at));
  }

  readOffThread(into: Uint8Array, position: number): Promise<void> {
    return this.#read(into, position, (part, at) => this.inner.readOffThread(part, at));
  }

  async #read(into: Uint8Array, position: number, readPart: (part: Uint8Array, at: number) => Promise<void>): Promise<void> {
    if (!this.holes.knowsHoles) return readPart(into, position);
    // Runs of bytes alike (known hole, or to be read), found a region at a time where regions are plain.
    let at = 0;
    while (at < into.length) {
      const hole = this.#isHoleAt(position + at);
      let end = at;
      while (end < into.length && this.#isHoleAt(position + end) === hole) end = this.#nextBoundary(position + end) - position;
      end = Math.min(end, into.length);
      if (hole) into.fill(0, at, end);
      else await readPart(into.subarray(at, end), position + at);
      at = end;
    }
  }

  #isHoleAt(byte: number): boolean {
    return this.holes.isHole(Math.floor(byte / PAGE));
  }

  #nextBoundary(byte: number): number {
    return this.holes.nextBoundary(Math.floor(byte / PAGE)) * PAGE;
  }

  async write(bytes: Uint8Array, position: number): Promise<void> {
    await this.holes.beforeWrite(position, bytes.length);
    await this.inner.write(bytes, position);
  }

  sync(): Promise<void> {
    return this.inner.sync();
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  /** A cut or a growth changes nothing known: cut pages read as zeros either way, and regions past the map count as written. */
  truncate(length: number): Promise<void> {
    return this.inner.truncate(length);
  }

  async close(): Promise<void> {
    await this.holes.close();
    await this.inner.close();
  }
}
