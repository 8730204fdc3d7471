// A paged bit map on disk: its page table (as entry kinds) and only its stored pages,
// so a sparse map costs what it holds. Format (little-endian):
//   magic "SCMAP002" | u32 bits | u32 pages | u32 body bytes | u32 extra
//   pages x u8 kind (0 zeros, 1 ones, 2 stored, 3 sparse) | body | u32 crc32 of all before it
// The body holds, in page order, 4096 bytes for each stored page and, for each sparse
// page (src/arena/sparse-page.ts), a u16 count n and n ascending u16 bit numbers.
// `extra` is a number the owner keeps with the map (a save volume's record count).
// A map with no sparse pages (every meta map) is written as version 1, which older
// builds read: "SCMAP001", the same header with the count of stored pages in place of
// the body bytes, and kinds 0-2 only. Both versions load; a map loaded with
// { sparse: true } keeps the pages with few bits sparse, whichever form they were saved in.

import { type BitmapOptions, PagedBitmap } from '../arena/bitmap.js';
import type { Arena } from '../arena/arena.js';
import { corrupt } from '../errors.js';
import { ONES_PAGE, PAGE_BLOCKS, PAGE_BYTES, SPARSE_MAX, ZERO_PAGE } from '../kernels/api.js';
import { crc32 } from '../storage/checksum.js';

const MAGIC_V1 = 'SCMAP001';
const MAGIC_V2 = 'SCMAP002';
const HEAD = 24;
const ZEROS = 0;
const ONES = 1;
const STORED = 2;
const SPARSE = 3;

export function encodeMap(map: PagedBitmap, extra = 0): Uint8Array {
  const kinds = new Uint8Array(map.pages);
  const lists: Array<Uint16Array | undefined> = [];
  let stored = 0;
  let body = 0;
  for (let p = 0; p < map.pages; p++) {
    const entry = map.entry(p);
    const list = map.sparseBits(p);
    lists.push(list);
    kinds[p] = entry === ZERO_PAGE ? ZEROS : entry === ONES_PAGE ? ONES : list ? SPARSE : STORED;
    if (kinds[p] === STORED) stored++;
    body += list ? 2 + 2 * list.length : kinds[p] === STORED ? PAGE_BYTES : 0;
  }
  const v2 = body !== stored * PAGE_BYTES;
  const bytes = new Uint8Array(HEAD + map.pages + body + 4);
  const view = new DataView(bytes.buffer);
  new TextEncoder().encodeInto(v2 ? MAGIC_V2 : MAGIC_V1, bytes);
  view.setUint32(8, map.bits, true);
  view.setUint32(12, map.pages, true);
  view.setUint32(16, v2 ? body : stored, true);
  view.setUint32(20, extra, true);
  bytes.set(kinds, HEAD);
  let at = HEAD + map.pages;
  for (let p = 0; p < map.pages; p++) {
    const list = lists[p];
    if (list) {
      view.setUint16(at, list.length, true);
      list.forEach((bit, i) => view.setUint16(at + 2 + 2 * i, bit, true));
      at += 2 + 2 * list.length;
    } else if (kinds[p] === STORED) {
      bytes.set(map.pageBytes(p)!, at);
      at += PAGE_BYTES;
    }
  }
  view.setUint32(at, crc32(bytes.subarray(0, at)), true);
  return bytes;
}

export interface DecodedMap {
  map: PagedBitmap;
  extra: number;
}

/**
 * Reads a map written by encodeMap (either version) into `arena`, as a map of the form
 * `options` asks for; ERR_CORRUPT when it does not check out (nothing is left allocated).
 */
export function decodeMap(arena: Arena, bytes: Uint8Array, what: string, options: BitmapOptions = {}): DecodedMap {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = bytes.length >= HEAD + 4 ? new TextDecoder().decode(bytes.subarray(0, 8)) : '';
  if (magic !== MAGIC_V1 && magic !== MAGIC_V2) throw corrupt(`${what}: not a snapcopy map file`);
  const v2 = magic === MAGIC_V2;
  const bits = view.getUint32(8, true);
  const pages = view.getUint32(12, true);
  const body = v2 ? view.getUint32(16, true) : view.getUint32(16, true) * PAGE_BYTES;
  const extra = view.getUint32(20, true);
  const end = HEAD + pages + body;
  if (bytes.length !== end + 4 || view.getUint32(end, true) !== crc32(bytes.subarray(0, end))) {
    throw corrupt(`${what}: checksum mismatch or truncated`);
  }
  const map = PagedBitmap.create(arena, bits, options);
  try {
    if (map.pages !== pages) throw corrupt(`${what}: ${pages} pages do not fit ${bits} bits`);
    readPages(map, bytes, view, v2, end, what);
  } catch (error) {
    map.free();
    throw error;
  }
  return { map, extra };
}

function readPages(map: PagedBitmap, bytes: Uint8Array, view: DataView, v2: boolean, end: number, what: string): void {
  let at = HEAD + map.pages;
  const need = (n: number) => {
    if (at + n > end) throw corrupt(`${what}: its pages run past the end`);
  };
  for (let p = 0; p < map.pages; p++) {
    const kind = bytes[HEAD + p];
    if (kind === ONES) map.setEntry(p, ONES_PAGE);
    else if (kind === STORED) {
      need(PAGE_BYTES);
      map.loadPage(p, bytes.subarray(at, at + PAGE_BYTES));
      at += PAGE_BYTES;
    } else if (kind === SPARSE && v2) {
      need(2);
      const n = view.getUint16(at, true);
      need(2 + 2 * n);
      if (n === 0 || n > SPARSE_MAX) throw corrupt(`${what}: a sparse page of ${n} bits`);
      const list = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        list[i] = view.getUint16(at + 2 + 2 * i, true);
        if ((i > 0 && list[i]! <= list[i - 1]!) || list[i]! >= PAGE_BLOCKS) throw corrupt(`${what}: page ${p} lists bits out of order or past the page`);
      }
      map.loadBits(p, list);
      at += 2 + 2 * n;
    } else if (kind !== ZEROS) throw corrupt(`${what}: page ${p} has kind ${kind}`);
  }
  if (at !== end) throw corrupt(`${what}: ${end - at} bytes left after the pages`);
}
