// The node's spool of .snap streams: one producer per key however many ask at once, a
// failed production leaves nothing, the cap evicts the least recently used file (those
// nobody reads first), and a reader keeps reading a file evicted under it. A producer
// that declares its size hands the file out while it grows: readers wait for bytes not
// written yet, and are cut off when production fails or comes out another size.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Spool, type SpoolWriter } from '../../src/distribution/spool.js';
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
    const produce = async (out: SpoolWriter) => {
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
    const make = (fill: number) => async (out: SpoolWriter) => void (await out.write(bytes(1000, fill)));
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

  test('a declared file is handed out while it grows; readers wait for its bytes', async () => {
    const spool = await Spool.open(join(root, 'd'), 1 << 20);
    let next!: () => void;
    const step = () => new Promise<void>((resolve) => (next = resolve));
    let stepping = step();
    const file = await spool.get('k', async (out) => {
      out.declare(3000);
      for (let i = 0; i < 3; i++) {
        await stepping;
        stepping = step();
        await out.write(bytes(1000, i + 1));
      }
    });
    expect(file.bytes).toBe(3000);
    expect(file.growth?.written).toBe(0);
    const again = spool.get('k', async () => void expect.unreachable('a second producer'));
    expect(await again).toBe(file); // the one being produced
    const reading = await spool.open(file);
    const waiting = file.growth!.reach(1500);
    let reached: number | undefined;
    void waiting.then((n) => (reached = n));
    next();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(reached).toBeUndefined(); // 1000 bytes written: byte 1500 is not there yet
    next();
    expect(await waiting).toBe(2000);
    const buffer = Buffer.alloc(2000);
    await reading.handle.read(buffer, 0, 2000, 0);
    expect(buffer.equals(Buffer.concat([bytes(1000, 1), bytes(1000, 2)]))).toBe(true);
    next();
    expect(await file.growth!.reach(Number.MAX_SAFE_INTEGER)).toBe(3000);
    expect(file.growth!.done).toBe(true);
    expect(await readdir(join(root, 'd'))).toEqual(['k.snap']);
    reading.release();
    await reading.handle.close();
    expect(spool.totalBytes).toBe(3000);
  });

  test('a growing file whose production fails, or comes out another size than declared, cuts its readers off and leaves nothing', async () => {
    const spool = await Spool.open(join(root, 'e'), 1 << 20);
    let fail: ((error: Error) => void) | undefined;
    const failing = await spool.get('k', async (out) => {
      out.declare(2000);
      await out.write(bytes(1000, 1));
      await new Promise((_, reject) => (fail = reject));
    });
    const reader = failing.growth!.reach(1500);
    while (!fail) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(failing.growth!.written).toBe(1000);
    fail(new Error('the volume went away'));
    await expect(reader).rejects.toThrow('the volume went away');
    await expect(spool.open(failing)).rejects.toThrow('the volume went away');
    const short = await spool.get('s', async (out) => {
      out.declare(2000);
      await out.write(bytes(1999, 1));
    });
    await expect(short.growth!.reach(1999)).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await readdir(join(root, 'e'))).toEqual([]);
    expect(spool.totalBytes).toBe(0);
  });
});
