// Checksums for on-disk records and delta streams: CRC-32 (the zlib polynomial), from
// node:zlib where the runtime has it (Node >= 20.15, Deno 2), else a table-driven twin.

import * as zlib from 'node:zlib';

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32Table(bytes: Uint8Array, seed: number): number {
  let c = ~seed >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `bytes`, continuing from `seed` (the CRC of what came before). */
export function crc32(bytes: Uint8Array, seed = 0): number {
  return native ? native(bytes, seed) >>> 0 : crc32Table(bytes, seed);
}

/** The table-driven implementation, exported so tests can hold the two against each other. */
export const crc32Portable = crc32Table;
