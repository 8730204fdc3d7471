// A full disk during an import, for real (a small tmpfs mounted for the test): the
// space an import needs is claimed before it commits, so one that does not fit fails
// with ERR_NO_SPACE and changes nothing, not even after a reopen (no half-done import
// is redone); once space is freed, the same stream imports.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DataDir, type DeltaHeader, SnapcopyError, StreamWriter } from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('full-disk-import');
const root = mkdtempSync(join(tmpdir(), 'snapcopy-full-import-'));
let mounted = false;

beforeAll(() => {
  if (process.getuid?.() !== 0) return;
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', root]);
  mounted = true;
});

afterAll(() => {
  if (mounted) execFileSync('umount', [root]);
  rmSync(root, { recursive: true, force: true });
});

const BS = 4096;
const SIZE = 16 << 20; // sparse: far more than the disk holds
const USED = 512 * 1024;

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** A stream from image `from` that rewrites blocks [0, USED) with `data`. */
function streamOver(from: string, data: Uint8Array): Uint8Array[] {
  const header: DeltaHeader = {
    volume: { name: 'src', uuid: 'full-disk' }, from: { id: from, name: 'base' }, to: { id: 'full-disk-next', name: 'next' },
    blockSize: BS, blocks: SIZE / BS, granularity: 0, dataBlocks: USED / BS, unusedBlocks: 0,
  };
  const writer = new StreamWriter();
  return [writer.header(header), ...writer.record({ kind: 'data', start: 0, count: USED / BS, data }), writer.trailer()];
}

async function* piecesOf(parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}

describe('full disk during an import', () => {
  test('an import whose before-images do not fit fails with ERR_NO_SPACE before it commits, and changes nothing', async (t) => {
    if (!mounted) t.skip('needs root to mount a small tmpfs');
    const prng = new Prng(SEED);
    const path = join(root, 'data');
    let dir = await DataDir.open(path, { kernels: backend });
    let vol = await dir.createVolume('vol', { size: SIZE, blockSize: BS });
    const before = prng.fill(new Uint8Array(USED));
    await vol.write(0, before);
    // The checkpoint needs the old blocks' before-images when the import rewrites them.
    await vol.createCheckpoint('c');
    const base = vol.listCheckpoints()[0]!.image;
    await dir.close();
    // Room for half the before-images: the import overwrites blocks in use in place after
    // saving them (or stages them, which needs as much room again), so it runs out.
    const free = () => Number(statfsSync(root).bavail) * Number(statfsSync(root).bsize);
    const filler = join(root, 'filler');
    writeFileSync(filler, new Uint8Array(Math.max(0, free() - USED / 2)));

    dir = await DataDir.open(path, { kernels: backend });
    vol = await dir.volume('vol');
    const next = prng.fill(new Uint8Array(USED));
    const failure = await vol.importDiff(piecesOf(streamOver(base, next))).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SnapcopyError);
    expect((failure as SnapcopyError).code).toBe('ERR_NO_SPACE');
    expect(same(await vol.read(0, USED), before)).toBe(true);
    expect(same(await vol.read(0, USED, { checkpoint: 'c' }), before)).toBe(true);
    await dir.close();

    // Reopened, nothing was committed: the volume still holds the old blocks and its base.
    rmSync(filler);
    dir = await DataDir.open(path, { kernels: backend });
    vol = await dir.volume('vol');
    expect(same(await vol.read(0, USED), before)).toBe(true);
    const result = await vol.importDiff(piecesOf(streamOver(base, next)));
    expect(result.dataBlocks).toBe(USED / BS);
    expect(same(await vol.read(0, USED), next)).toBe(true);
    expect(same(await vol.read(0, USED, { checkpoint: 'c' }), before)).toBe(true);
    await dir.close();
  });
});
