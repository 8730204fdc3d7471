// Playback by the destination's own triggers (dto/dhwm): sets are received into the
// queue and acknowledged, the replica keeps its image until a trigger fires, then the
// queued sets play in order. In process: a source volume makes the streams.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { DataDir } from '../../src/volume/data-dir.js';
import { PlaybackQueue } from '../../src/replication/playback-queue.js';
import { type IncomingRecord, type ReceiverContext, type SetMeta } from '../../src/replication/receiver.js';
import { RecordDir } from '../../src/replication/records.js';
import { backend } from '../helpers/backend.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'snapcopy-queue-'));
  dirs.push(d);
  return d;
}

async function collect(pieces: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out = [];
  for await (const p of pieces) out.push(p.slice());
  return out;
}

/** Feeds a stream through an RCP-like application in small frames. */
async function deliver(app: ReturnType<PlaybackQueue['receiver']>, pieces: Uint8Array[]): Promise<void> {
  for (const piece of pieces) {
    for (let at = 0; at < piece.length; at += 1000) await app.onData!(piece.subarray(at, at + 1000), 0);
  }
  await app.onEnd!(new TextEncoder().encode('{}'), 0);
}

describe(`playback queue (${backend})`, () => {
  test('sets wait for dto, then play in order; the replica keeps its image until then', async () => {
    let now = 1_000_000;
    const source = await DataDir.open(temp(), { kernels: backend });
    const replica = await DataDir.open(temp(), { kernels: backend });
    try {
      const pfs = await source.createVolume('pfs', { size: 64 * 4096, blockSize: 4096 });
      await pfs.write(0, new Uint8Array(8192).fill(1));
      const c0 = await pfs.createCheckpoint('rep-0');
      await pfs.write(4096 * 10, new Uint8Array(4096).fill(2));
      const c1 = await pfs.createCheckpoint('rep-1');
      await pfs.write(4096 * 20, new Uint8Array(4096).fill(3));
      const c2 = await pfs.createCheckpoint('rep-2');

      const incoming = new RecordDir<IncomingRecord>(join(temp(), 'in'));
      await incoming.write('sfs', { sfs: 'sfs', pfs: 'pfs', primary: 'n1', played: null });
      const ctx: ReceiverContext = { self: 'n2', dir: replica, incoming, now: () => now };
      const root = join(temp(), 'queue');
      const queue = new PlaybackQueue(root, ctx);
      const meta = (from: number | null, to: number, fromImage: string | null, toImage: string): SetMeta => ({
        pfs: 'pfs', primary: 'n1', from, to, fromImage, toImage, between: [], created: now,
        destinations: { n2: 'sfs' }, targets: ['n2'], playback: { dto: 5, dhwm: 0 },
      });
      try {
        await deliver(queue.receiver(meta(null, 0, null, c0.image), 'sfs'), await collect(pfs.exportDiff(null, 'rep-0')));
        await deliver(queue.receiver(meta(0, 1, c0.image, c1.image), 'sfs'), await collect(pfs.exportDiff('rep-0', 'rep-1')));
        await deliver(queue.receiver(meta(1, 2, c1.image, c2.image), 'sfs'), await collect(pfs.exportDiff('rep-1', 'rep-2')));
        expect(readdirSync(join(root, 'sfs')).sort()).toEqual(['0.json', '0.stream', '1.json', '1.stream', '2.json', '2.stream']);
        // Before dto: nothing played (the replica does not even exist yet).
        await new Promise((resolve) => setTimeout(resolve, 600));
        expect(await replica.volumeNames()).toEqual([]);
        now += 5_000;
        for (let i = 0; i < 40 && readdirSync(join(root, 'sfs')).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
        expect(readdirSync(join(root, 'sfs'))).toEqual([]);
        const sfs = await replica.volume('sfs');
        expect(Buffer.compare(await sfs.read(0, sfs.size), await pfs.read(0, pfs.size, { checkpoint: 'rep-2' }))).toBe(0);
        expect(sfs.mode).toBe('ro');
        expect(sfs.listCheckpoints().map((c) => c.name)).toEqual(['rep-2']);
        expect((await incoming.read('sfs'))!.played).toBe(2);
      } finally {
        await queue.close();
      }
    } finally {
      await source.close();
      await replica.close();
    }
  });
});
