// A full disk, for real: a small tmpfs mounted for the test. A write that does not fit
// fails with ERR_NO_SPACE and changes nothing; once space is freed the volume goes on.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DataDir, SnapcopyError } from '../../src/index.js';
import { backend } from '../helpers/backend.js';

const root = mkdtempSync(join(tmpdir(), 'snapcopy-full-'));
let mounted = false;

beforeAll(() => {
  if (process.getuid?.() !== 0) return;
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', root]);
  mounted = true;
});

afterAll(() => {
  if (mounted) execFileSync('umount', [root]);
  rmSync(root, { recursive: true, force: true });
});

/** Byte equality without a deep-equality walk (16 MiB is too much for toEqual). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

function content(n: number, bytes: number): Uint8Array {
  return new Uint8Array(bytes).fill((n * 37 + 11) & 0xff);
}

describe('full disk', () => {
  test('a write that does not fit fails with ERR_NO_SPACE, changes nothing, and the volume goes on', async (t) => {
    if (!mounted) t.skip('needs root to mount a small tmpfs');
    const filler = join(root, 'filler');
    writeFileSync(filler, new Uint8Array(512 * 1024)); // given back later, to make room
    const path = join(root, 'data');
    const size = 16 << 20; // sparse: far more than the disk holds
    let dir = await DataDir.open(path, { kernels: backend });
    let vol = await dir.createVolume('vol', { size, blockSize: 4096 });
    const model = new Uint8Array(size);
    let failure: unknown;
    const piece = 256 * 1024;
    for (let n = 0; n < size / piece; n++) {
      const data = content(n, piece);
      try {
        await vol.write(n * piece, data);
      } catch (error) {
        failure = error;
        break;
      }
      model.set(data, n * piece);
    }
    expect(failure).toBeInstanceOf(SnapcopyError);
    expect((failure as SnapcopyError).code).toBe('ERR_NO_SPACE');
    expect(same(await vol.read(0, size), model)).toBe(true);
    await dir.close();

    rmSync(filler);
    dir = await DataDir.open(path, { kernels: backend });
    vol = await dir.volume('vol');
    expect(same(await vol.read(0, size), model)).toBe(true);
    await vol.write(5, new Uint8Array([1, 2, 3]));
    model.set([1, 2, 3], 5);
    expect(same(await vol.read(0, size), model)).toBe(true);
    await dir.close();
  });
});
