// PushImport: bytes pushed in callbacks (as RCP frames arrive) feed an import; each piece
// is the importer's own copy, even when the caller hands a Buffer (whose slice() is a
// view) and reuses it at once; a failed import is seen by the next write or commit.

import { describe, expect, test } from 'vitest';
import { PushImport } from '../../src/volume/push-import.js';

async function concat(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of source) parts.push(p);
  return Buffer.concat(parts);
}

describe('PushImport', () => {
  test('pieces of one reused Buffer arrive intact, in order', async () => {
    const importer = new PushImport(concat, { maxQueuedBytes: 64 });
    const reused = Buffer.alloc(10);
    const expected: number[] = [];
    for (let i = 0; i < 50; i++) {
      reused.fill(i);
      expected.push(...new Array(10).fill(i));
      await importer.write(reused);
      reused.fill(0xff); // the caller reuses its buffer once write resolves
    }
    expect([...(await importer.commit())]).toEqual(expected);
  });

  test('an import that fails is seen by the next write, and commit rejects with its error', async () => {
    const importer = new PushImport(async (source) => {
      for await (const piece of source) if (piece[0] === 9) throw Object.assign(new Error('bad piece'), { code: 'ERR_CORRUPT' });
      return 'never';
    }, { maxQueuedBytes: 1 });
    await importer.write(Buffer.from([1]));
    await importer.write(Buffer.from([9])).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 10)); // the importer reads it and fails
    await expect(importer.write(Buffer.from([2]))).rejects.toMatchObject({ code: 'ERR_CORRUPT' });
    await expect(importer.commit()).rejects.toMatchObject({ code: 'ERR_CORRUPT' });
  });

  test('abort ends the import with an error, changing nothing downstream', async () => {
    let seen = 0;
    const importer = new PushImport(async (source) => {
      for await (const piece of source) seen += piece.length;
      return seen;
    });
    await importer.write(Buffer.from([1, 2, 3]));
    await importer.abort('the session was dropped');
    await expect(importer.commit()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });
});
