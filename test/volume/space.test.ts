// Honest disk space (issue 8): what a volume takes on disk, measured as du does
// (st_blocks of every file under the volume's directory), follows what it holds:
// the volume file's space is claimed only for the pages written, logs grow in steps
// proportionate to what they hold, the write-ahead log is folded and shrunk back when
// the volume closes and after a big write or import, and stages are removed.

import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { DataDir } from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('space');
const MiB = 1 << 20;
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tempDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'snapcopy-space-'));
  roots.push(root);
  return root;
}

/** Bytes on disk under `path`, as du counts them (st_blocks of 512 bytes). */
function du(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.blocks * 512;
  return readdirSync(path).reduce((n, entry) => n + du(join(path, entry)), stat.blocks * 512);
}

/** Everything under the volume's directory but the directories themselves (their size varies with the file system). */
function duFiles(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.blocks * 512;
  return readdirSync(path).reduce((n, entry) => n + duFiles(join(path, entry)), 0);
}

const volumeDir = (dd: DataDir, name: string) => join(dd.path, 'volumes', name);

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

describe('disk space follows what a volume holds', () => {
  test('a 64 MiB volume holding 100 KB uses well under 1 MiB, and a checkpoint of it little more', async () => {
    const prng = new Prng(SEED);
    const path = tempDir();
    let dd = await DataDir.open(path, { kernels: backend });
    const vol = await dd.createVolume('v', { size: 64 * MiB });
    const data = prng.fill(new Uint8Array(100_000));
    await vol.write(prng.int(0, 64 * MiB - data.length), data);
    await dd.close();
    dd = await DataDir.open(path, { kernels: backend });
    const used = du(volumeDir(dd, 'v'));
    console.log(`[space] 64 MiB volume holding 100 KB: ${used} bytes on disk`);
    expect(used).toBeLessThan(MiB);
    // A checkpoint, then 10 blocks rewritten: their before-images, not megabytes of log.
    const again = await dd.volume('v');
    await again.createCheckpoint('c');
    for (let i = 0; i < 10; i++) await again.write(i * 8192, prng.fill(new Uint8Array(8192)));
    await dd.close();
    expect(duFiles(join(path, 'volumes', 'v'))).toBeLessThan(used + 10 * 8192 + 256 * 1024);
  });

  test('an import of an N-byte full stream into a fresh volume uses about N, once done and after closing', async () => {
    const prng = new Prng(SEED ^ 1);
    const dd = await DataDir.open(tempDir(), { kernels: backend });
    try {
      const source = await dd.createVolume('src', { size: 64 * MiB, blockSize: 4096 });
      const n = 8 * MiB;
      // Extents all over the volume, 8 MiB in all.
      for (let i = 0; i < 16; i++) await source.write(i * 4 * MiB + prng.int(0, 255) * 4096, prng.fill(new Uint8Array(n / 16)));
      await source.createCheckpoint('full');
      const target = await dd.createVolume('dst', { size: 64 * MiB, blockSize: 4096 });
      const result = await target.importDiff(source.exportDiff(null, 'full'));
      expect(result.dataBlocks * 4096).toBe(n);
      const bound = 1.25 * n + MiB;
      const done = duFiles(volumeDir(dd, 'dst'));
      console.log(`[space] import of ${n} bytes: ${done} bytes on disk when done`);
      expect(done).toBeLessThan(bound);
      expect(done).toBeGreaterThanOrEqual(n);
      await target.close();
      const closed = duFiles(volumeDir(dd, 'dst'));
      console.log(`[space] ... and ${closed} once closed`);
      expect(closed).toBeLessThan(bound);
    } finally {
      await dd.close();
    }
  });

  test('a 24 MiB write uses about 24 MiB once done: no stage, no log kept', async () => {
    const prng = new Prng(SEED ^ 2);
    const dd = await DataDir.open(tempDir(), { kernels: backend });
    try {
      const vol = await dd.createVolume('v', { size: 64 * MiB });
      const n = 24 * MiB;
      await vol.writeFrom(8192, once(prng.fill(new Uint8Array(n))));
      const done = duFiles(volumeDir(dd, 'v'));
      console.log(`[space] a ${n}-byte write: ${done} bytes on disk when done`);
      expect(done).toBeLessThan(n + MiB);
      // Small writes that add up past the fold limit leave a small log too, once closed.
      for (let i = 0; i < 40; i++) await vol.write(i * 65536, prng.fill(new Uint8Array(60_000)));
      await vol.close();
      // 64 KiB of log, plus at most one 4 KiB block of the file system's own (ext4 keeps the
      // extent list of a file cut back from many extents in a block of its own): st_blocks counts it.
      expect(statSync(join(volumeDir(dd, 'v'), 'wal.log')).blocks * 512).toBeLessThanOrEqual(64 * 1024 + 4096);
    } finally {
      await dd.close();
    }
  });
});
