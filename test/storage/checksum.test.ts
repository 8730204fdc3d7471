// The checksum of records and streams: zlib's CRC-32 where the runtime has it, and
// the portable table-driven version, which must agree with it everywhere.
import { describe, expect, test } from 'vitest';
import { crc32, crc32Portable } from '../../src/storage/checksum.js';
import { Prng, testSeed } from '../helpers/prng.js';

describe('crc32', () => {
  test('the standard check value: CRC-32 of "123456789" is 0xCBF43926', () => {
    const bytes = new TextEncoder().encode('123456789');
    expect(crc32(bytes)).toBe(0xcbf43926);
    expect(crc32Portable(bytes, 0)).toBe(0xcbf43926);
  });

  test('native and portable agree on random data, whole and continued from a seed', () => {
    const prng = new Prng(testSeed('crc32'));
    for (let round = 0; round < 50; round++) {
      const bytes = prng.fill(new Uint8Array(prng.int(0, 5000)));
      const cut = prng.int(0, bytes.length);
      expect(crc32(bytes)).toBe(crc32Portable(bytes, 0));
      expect(crc32(bytes.subarray(cut), crc32(bytes.subarray(0, cut)))).toBe(crc32(bytes));
      expect(crc32Portable(bytes.subarray(cut), crc32Portable(bytes.subarray(0, cut), 0))).toBe(crc32(bytes));
    }
  });
});
