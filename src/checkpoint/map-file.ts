// A paged bit map on disk: its page table (as entry kinds) and only its stored pages,
// so a sparse map costs what it holds. Format (little-endian):
//   magic "SCMAP001" | u32 bits | u32 pages | u32 stored | u32 extra
//   pages x u8 kind (0 zeros, 1 ones, 2 stored) | stored x 4096 bytes | u32 crc32 of all before it
// `extra` is a number the owner keeps with the map (a save volume's record count).
// Sparse pages (src/arena/sparse-page.ts) are written as stored pages, dense, so the
// format is the same whichever form a map keeps in memory; a map loaded with
// { sparse: true } makes the pages with few bits sparse again.

import { type BitmapOptions, PagedBitmap } from '../arena/bitmap.js';
import type { Arena } from '../arena/arena.js';
import { corrupt } from '../errors.js';
import { ONES_PAGE, PAGE_BYTES, ZERO_PAGE } from '../kernels/api.js';
import { crc32 } from '../storage/checksum.js';

const MAGIC = 'SCMAP001';
const HEAD = 24;

export function encodeMap(map: PagedBitmap, extra = 0): Uint8Array {
  const kinds = new Uint8Array(map.pages);
  let stored = 0;
  for (let p = 0; p < map.pages; p++) {
    const entry = map.entry(p);
    kinds[p] = entry === ZERO_PAGE ? 0 : entry === ONES_PAGE ? 1 : 2;
    if (kinds[p] === 2) stored++;
  }
  const bytes = new Uint8Array(HEAD + map.pages + stored * PAGE_BYTES + 4);
  const view = new DataView(bytes.buffer);
  new TextEncoder().encodeInto(MAGIC, bytes);
  view.setUint32(8, map.bits, true);
  view.setUint32(12, map.pages, true);
  view.setUint32(16, stored, true);
  view.setUint32(20, extra, true);
  bytes.set(kinds, HEAD);
  let at = HEAD + map.pages;
  for (let p = 0; p < map.pages; p++) {
    if (kinds[p] !== 2) continue;
    bytes.set(map.pageBytes(p)!, at);
    at += PAGE_BYTES;
  }
  view.setUint32(at, crc32(bytes.subarray(0, at)), true);
  return bytes;
}

export interface DecodedMap {
  map: PagedBitmap;
  extra: number;
}

/**
 * Reads a map written by encodeMap into `arena` (a map of the form `options` asks for);
 * ERR_CORRUPT when it does not check out.
 */
export function decodeMap(arena: Arena, bytes: Uint8Array, what: string, options: BitmapOptions = {}): DecodedMap {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < HEAD + 4 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw corrupt(`${what}: not a snapcopy map file`);
  }
  const bits = view.getUint32(8, true);
  const pages = view.getUint32(12, true);
  const stored = view.getUint32(16, true);
  const extra = view.getUint32(20, true);
  const end = HEAD + pages + stored * PAGE_BYTES;
  if (bytes.length !== end + 4 || view.getUint32(end, true) !== crc32(bytes.subarray(0, end))) {
    throw corrupt(`${what}: checksum mismatch or truncated`);
  }
  const map = PagedBitmap.create(arena, bits, options);
  if (map.pages !== pages) throw corrupt(`${what}: ${pages} pages do not fit ${bits} bits`);
  let at = HEAD + pages;
  for (let p = 0; p < pages; p++) {
    const kind = bytes[HEAD + p];
    if (kind === 1) map.setEntry(p, ONES_PAGE);
    else if (kind === 2) {
      map.loadPage(p, bytes.subarray(at, at + PAGE_BYTES));
      at += PAGE_BYTES;
    }
  }
  return { map, extra };
}
