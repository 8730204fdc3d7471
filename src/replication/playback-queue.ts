// Playback by the destination's own triggers (the seed's dto/dhwm): sets are received
// durably into a queue and acknowledged, then played back in order once the oldest has
// waited `dto` seconds or the queue holds `dhwm` MB (FIG. 11's "alternatively, a timeout
// interval and a high water mark value can be configured for the secondary site").
// Until then the replica keeps serving the image of the last set played.
//
// <data>/replication/queue/<sfs>/<n>.json (the set's description and when it arrived),
// then <n>.stream (renamed into place once whole and synced: the commit of its receipt).

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { SnapcopyError } from '../errors.js';
import type { SessionApp } from '../rcp/local.js';
import { jsonOf } from '../rcp/messages.js';
import { syncDir } from '../storage/file.js';
import { playSet, type ReceiverContext, type SetMeta } from './receiver.js';

interface Queued {
  n: number;
  meta: SetMeta;
  receivedAt: number;
  bytes: number;
}

const TICK_MS = 250;

export class PlaybackQueue {
  readonly #timer: ReturnType<typeof setInterval>;
  #playing: Promise<void> = Promise.resolve();

  constructor(readonly root: string, readonly ctx: ReceiverContext) {
    this.#timer = setInterval(() => {
      this.#playing = this.#playing.then(() => this.#playDue()).catch(() => undefined);
    }, TICK_MS);
  }

  /** An RCP application that writes a set into the queue and acknowledges it once durable. */
  receiver(meta: SetMeta, sfs: string): SessionApp {
    const dir = join(this.root, sfs);
    const partial = join(dir, `${meta.to}.partial`);
    let handle: fs.FileHandle | undefined;
    let bytes = 0;
    const open = async () => {
      await fs.mkdir(dir, { recursive: true });
      handle ??= await fs.open(partial, 'w');
      return handle;
    };
    return {
      onData: async (body) => {
        const h = await open();
        await h.write(body, 0, body.length, bytes);
        bytes += body.length;
      },
      onEnd: async (body) => {
        jsonOf(body, 'the delta set end');
        const h = await open();
        await h.sync();
        await h.close();
        handle = undefined;
        const queued: Queued = { n: meta.to, meta, receivedAt: (this.ctx.now ?? Date.now)(), bytes };
        await fs.writeFile(join(dir, `${meta.to}.json`), JSON.stringify(queued));
        await fs.rename(partial, join(dir, `${meta.to}.stream`));
        await syncDir(dir);
      },
      onAbort: async () => {
        await handle?.close().catch(() => undefined);
        handle = undefined;
        await fs.rm(partial, { force: true });
      },
    };
  }

  /** Plays, in order, the queued sets of every replica whose triggers fired. */
  async #playDue(): Promise<void> {
    for (const sfs of await fs.readdir(this.root).catch(() => [] as string[])) {
      const queue = await this.#queued(sfs);
      if (queue.length === 0 || !this.#due(queue)) continue;
      await this.#play(sfs, queue);
    }
  }

  /** Plays every set queued for `sfs` now, whatever the triggers say (a failover). */
  playAll(sfs: string): Promise<void> {
    this.#playing = this.#playing.then(async () => {
      await this.#play(sfs, await this.#queued(sfs));
    });
    return this.#playing.then(async () => {
      if ((await this.#queued(sfs)).length > 0) throw new SnapcopyError('ERR_IO', `${sfs}: a held delta set could not be played (see -info)`);
    });
  }

  /** Drops every set queued for `sfs` (a failover with -now). */
  async dropAll(sfs: string): Promise<void> {
    this.#playing = this.#playing.then(() => fs.rm(join(this.root, sfs), { recursive: true, force: true }));
    await this.#playing;
  }

  async #play(sfs: string, queue: Queued[]): Promise<void> {
    for (const set of queue) {
      const path = join(this.root, sfs, `${set.n}.stream`);
      try {
        await playSet(this.ctx, set.meta, sfs, fileChunks(path));
      } catch {
        break; // kept in the queue, and noted in the replica's record: tried again next time
      }
      await fs.rm(path, { force: true });
      await fs.rm(join(this.root, sfs, `${set.n}.json`), { force: true });
    }
  }

  #due(queue: Queued[]): boolean {
    const { dto, dhwm } = queue[queue.length - 1]!.meta.playback ?? { dto: 0, dhwm: 0 };
    const now = (this.ctx.now ?? Date.now)();
    const waited = now - queue[0]!.receivedAt >= dto * 1000;
    const full = dhwm > 0 && queue.reduce((n, q) => n + q.bytes, 0) >= dhwm * 1e6;
    return (dto > 0 && waited) || full || (dto === 0 && dhwm === 0);
  }

  async #queued(sfs: string): Promise<Queued[]> {
    const dir = join(this.root, sfs);
    const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.stream'));
    const queue: Queued[] = [];
    for (const name of names) {
      const n = Number(name.slice(0, -'.stream'.length));
      const text = await fs.readFile(join(dir, `${n}.json`), 'utf8').catch(() => undefined);
      if (text) queue.push(JSON.parse(text) as Queued);
    }
    return queue.sort((a, b) => a.n - b.n);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#playing;
  }
}

async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  const handle = await fs.open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    for (let at = 0; at < size;) {
      const piece = new Uint8Array(Math.min(4 << 20, size - at));
      const { bytesRead } = await handle.read(piece, 0, piece.length, at);
      if (bytesRead === 0) throw new SnapcopyError('ERR_IO', `${path} ended early`);
      yield piece.subarray(0, bytesRead);
      at += bytesRead;
    }
  } finally {
    await handle.close();
  }
}
