// The node's spool of .snap streams: one producer per key however many ask at once, a
// failed production leaves nothing, the cap evicts the least recently used file (those
// nobody reads first), and a reader keeps reading a file evicted under it.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Spool } from '../../src/distribution/spool.js';
import { removeDir, tempDir } from '../helpers/net.js';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe('spool', () => {
  let root = '';
  beforeAll(async () => {
    root = await tempDir('snapcopy-spool-');
  });
  afterAll(() => removeDir(root));

  test('concurrent requests for one key run one producer and get the same file', async () => {
    const spool = await Spool.open(join(root, 'a'), 1 << 20);
    let runs = 0;
    const produce = async (out: import('node:fs').promises.FileHandle) => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      await out.write(bytes(1000, 7));
    };
    const files = await Promise.all(Array.from({ length: 20 }, () => spool.get('k', produce)));
    expect(runs).toBe(1);
    expect(new Set(files.map((f) => f.path)).size).toBe(1);
    expect(files[0]!.bytes).toBe(1000);
    expect(await spool.get('k', produce)).toBe(files[0]);
    expect(runs).toBe(1);
    expect(await readdir(join(root, 'a'))).toEqual(['k.snap']);
  });

  test('a failed production leaves no file and the next request produces again', async () => {
    const spool = await Spool.open(join(root, 'b'), 1 << 20);
    await expect(spool.get('k', async (out) => {
      await out.write(bytes(10, 1));
      throw new Error('the volume went away');
    })).rejects.toThrow('the volume went away');
    expect(await readdir(join(root, 'b'))).toEqual([]);
    expect(spool.totalBytes).toBe(0);
    expect((await spool.get('k', async (out) => void (await out.write(bytes(5, 2))))).bytes).toBe(5);
  });

  test('past the cap the least recently used file goes, one being read last; its reader still reads it', async () => {
    const spool = await Spool.open(join(root, 'c'), 2500);
    const make = (fill: number) => async (out: import('node:fs').promises.FileHandle) => void (await out.write(bytes(1000, fill)));
    const a = await spool.get('a', make(1));
    await spool.get('b', make(2));
    const reading = await spool.open(a); // a is older, but read: b is evicted first
    await spool.get('a', make(1)); // and a was used again
    await spool.get('c', make(3));
    expect((await readdir(join(root, 'c'))).sort()).toEqual(['a.snap', 'c.snap']);
    const d = await spool.get('d', make(4)); // only a (read) and c are left: c is idle, so c goes
    expect((await readdir(join(root, 'c'))).sort()).toEqual(['a.snap', 'd.snap']);
    const readingD = await spool.open(d);
    await spool.get('e', make(5)); // a and d both read: the least recently used, a, is unlinked under its reader
    expect((await readdir(join(root, 'c'))).sort()).toEqual(['d.snap', 'e.snap']);
    readingD.release();
    await readingD.handle.close();
    const buffer = Buffer.alloc(1000);
    await reading.handle.read(buffer, 0, 1000, 0);
    expect(buffer.equals(Buffer.from(bytes(1000, 1)))).toBe(true);
    reading.release();
    await reading.handle.close();
    expect(spool.totalBytes).toBe(2000);
    // An evicted key is simply produced again.
    expect(await readFile((await spool.get('a', make(1))).path)).toEqual(Buffer.from(bytes(1000, 1)));
  });
});
