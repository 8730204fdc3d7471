// WriteBehind: background syncs every so many bytes, one at a time, and a failed one
// fails the work (at settle, and at the next write) instead of vanishing.

import { afterEach, describe, expect, test } from 'vitest';
import type { BlockFile } from '../../src/storage/file.js';
import { WriteBehind } from '../../src/storage/write-behind.js';

/** A file whose syncs stay pending until the test ends them. */
function fakeFile() {
  const pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  const file = {
    path: 'fake',
    sync: () => new Promise<void>((resolve, reject) => { pending.push({ resolve, reject }); }),
  } as unknown as BlockFile;
  return { file, pending };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
const every = WriteBehind.every;
afterEach(() => { WriteBehind.every = every; });

describe('WriteBehind', () => {
  test('starts a sync after every `every` bytes, never two at once', async () => {
    WriteBehind.every = 100;
    const { file, pending } = fakeFile();
    const behind = new WriteBehind(file);
    behind.wrote(60);
    expect(pending.length).toBe(0);
    behind.wrote(60);
    expect(pending.length).toBe(1);
    behind.wrote(500); // one is running: no second
    expect(pending.length).toBe(1);
    pending[0]!.resolve();
    await tick();
    behind.wrote(1); // the bytes counted meanwhile start the next one
    expect(pending.length).toBe(2);
    pending[1]!.resolve();
    await behind.settle();
  });

  test('settle waits for the sync in flight', async () => {
    WriteBehind.every = 10;
    const { file, pending } = fakeFile();
    const behind = new WriteBehind(file);
    behind.wrote(10);
    let settled = false;
    const settling = behind.settle().then(() => { settled = true; });
    await tick();
    expect(settled).toBe(false);
    pending[0]!.resolve();
    await settling;
    expect(settled).toBe(true);
  });

  test('a failed background sync is thrown by settle and by every later write, and quiesce does not throw', async () => {
    WriteBehind.every = 10;
    const { file, pending } = fakeFile();
    const behind = new WriteBehind(file);
    behind.wrote(10);
    pending[0]!.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await behind.quiesce();
    await expect(behind.settle()).rejects.toThrow(/EIO/);
    expect(() => behind.wrote(1)).toThrow(/EIO/);
    await expect(behind.settle()).rejects.toThrow(/EIO/);
    expect(pending.length).toBe(1); // no sync started after the failure
  });
});
