// The destination side: plays delta sets back into a read-only replica (FIG. 9, 11).
// Each set arrives as one RCP session carrying a delta stream; it is staged, checked
// end to end (the stream's checksums and counts) and against the replica's image, and
// played back atomically (the volume's import), so a reader never sees part of a set,
// during playback or after a crash. The newest played set is kept as a checkpoint of
// the replica (`rep-<n>`): the read-only view's image and the restart point.

import { peekHeader } from '../checkpoint/stream-peek.js';
import { SnapcopyError } from '../errors.js';
import { EMPTY_IMAGE } from '../engine/layout.js';
import type { SessionApp } from '../rcp/local.js';
import { jsonOf } from '../rcp/messages.js';
import type { SessionParams } from '../rcp/session.js';
import type { DataDir } from '../volume/data-dir.js';
import { PushImport } from '../volume/push-import.js';
import type { Volume } from '../volume/volume.js';
import type { RecordDir } from './records.js';

export const REPLICATION_APP = 'replication';

/** What the primary says of a delta set, in the session's meta. */
export interface SetMeta {
  pfs: string;
  primary: string;
  /** The set played before (null: a full copy) and this set's number. */
  from: number | null;
  to: number;
  fromImage: string | null;
  toImage: string;
  /** Images of the sets between from and to. */
  between: string[];
  /** When the set was cut (ms), for the replica's lag. */
  created: number;
  destinations: Record<string, string>;
  targets: string[];
  /** The destination's own playback triggers (dto seconds, dhwm MB); 0, 0: as soon as whole. */
  playback?: { dto: number; dhwm: number };
}

/** A replica's record (in/<sfs>.json). */
export interface IncomingRecord {
  sfs: string;
  pfs: string;
  primary: string;
  played: number | null;
  playedImage?: string;
  playedAt?: number;
  /** When the newest played set was cut on the primary (ms): lag = now − this. */
  playedCreated?: number;
  lastError?: { code: string; message: string; at: number };
  /** Set by a failover: the replica is read-write and takes no more sets from its primary. */
  promoted?: { at: number; restartPoint: string };
}

export const cutName = (n: number): string => `rep-${n}`;
const CUT = /^rep-(\d+)$/;

export function parseSetMeta(meta: Record<string, unknown>): SetMeta {
  const m = meta as unknown as SetMeta;
  const ok = typeof m.pfs === 'string' && typeof m.primary === 'string' && Number.isSafeInteger(m.to)
    && (m.from === null || Number.isSafeInteger(m.from)) && typeof m.toImage === 'string'
    && Array.isArray(m.between) && typeof m.destinations === 'object' && m.destinations !== null && Array.isArray(m.targets);
  if (!ok) throw new SnapcopyError('ERR_PROTOCOL', 'replication: the session does not describe a delta set');
  return m;
}

export interface ReceiverContext {
  self: string;
  dir: DataDir;
  incoming: RecordDir<IncomingRecord>;
  /** Where sets wait when the replication plays back by its own dto/dhwm (playback-queue.ts). */
  queue?: { receiver(meta: SetMeta, sfs: string): SessionApp };
  now?: () => number;
}

/** The RCP application factory of a node's replicas. */
export function replicationReceiver(ctx: ReceiverContext): (session: Readonly<SessionParams>) => SessionApp {
  return (session) => {
    const meta = parseSetMeta(session.meta);
    const sfs = meta.destinations[ctx.self];
    if (sfs === undefined) throw new SnapcopyError('ERR_NOT_FOUND', `replication of ${meta.pfs}: node ${ctx.self} is not one of its destinations`);
    // A destination with a copy already passes a new destination's full copy by.
    if (!meta.targets.includes(ctx.self)) return {};
    const delayed = (meta.playback?.dto ?? 0) > 0 || (meta.playback?.dhwm ?? 0) > 0;
    return delayed && ctx.queue ? ctx.queue.receiver(meta, sfs) : new Receipt(ctx, meta, sfs);
  };
}

/** A set played back as it arrives (the default: "as soon as whole"). */
class Receipt implements SessionApp {
  #import: PushImport<void> | undefined;

  constructor(readonly ctx: ReceiverContext, readonly meta: SetMeta, readonly sfs: string) {}

  onControl(): void {}

  async onData(body: Uint8Array): Promise<void> {
    this.#import ??= new PushImport((source) => playSet(this.ctx, this.meta, this.sfs, source));
    await this.#import.write(body);
  }

  async onEnd(body: Uint8Array): Promise<void> {
    jsonOf(body, 'the delta set end');
    this.#import ??= new PushImport((source) => playSet(this.ctx, this.meta, this.sfs, source));
    await this.#import.commit();
  }

  async onAbort(reason: string): Promise<void> {
    await this.#import?.abort(`replication of ${this.meta.pfs}: ${reason}`);
  }
}

/**
 * Plays one set back into the replica: checks it is this primary's replica (or absent,
 * for a full copy), imports the stream atomically (read-only replicas take playback
 * only), keeps the set as the replica's checkpoint and records it. A failure is noted
 * in the replica's record and thrown (the primary hears of it as this destination's error).
 */
export async function playSet(ctx: ReceiverContext, meta: SetMeta, sfs: string, source: AsyncIterable<Uint8Array>): Promise<void> {
  try {
    const record = await ctx.incoming.read(sfs);
    if (!record || record.pfs !== meta.pfs || record.primary !== meta.primary) {
      throw new SnapcopyError('ERR_EXISTS', `${sfs} on ${ctx.self} is not registered as the replica of ${meta.primary}:${meta.pfs}`);
    }
    if (record.promoted) {
      throw new SnapcopyError('ERR_FAILED_OVER', `${sfs} on ${ctx.self} was failed over (it is read-write now): it takes no more sets from ${meta.primary}:${meta.pfs}`);
    }
    const exists = (await ctx.dir.volumeNames()).includes(sfs);
    if (!exists && meta.from !== null) {
      throw new SnapcopyError('ERR_WRONG_BASE', `${sfs} on ${ctx.self} does not exist, and delta set ${meta.to} is not a full copy`);
    }
    if (!exists) {
      const { header, stream } = await peekHeader(source);
      if (header.from.id !== EMPTY_IMAGE || header.to.id !== meta.toImage) {
        throw new SnapcopyError('ERR_WRONG_BASE', `${sfs} on ${ctx.self}: the stream is not the full copy of set ${meta.to} it was announced as`);
      }
      const created = await ctx.dir.createFromStream(sfs, header, stream);
      await created.setMode('ro');
    } else {
      const volume = await ctx.dir.volume(sfs);
      const bases = [...meta.between, ...(meta.fromImage ? [meta.fromImage] : [])];
      const expect = { from: meta.fromImage ?? EMPTY_IMAGE, to: meta.toImage };
      await volume.importDiff(source, { replica: true, bases, expect });
    }
    const volume = await ctx.dir.volume(sfs);
    await keepNewestCut(volume, meta.to);
    const now = (ctx.now ?? Date.now)();
    await ctx.incoming.write(sfs, {
      ...(await ctx.incoming.read(sfs))!, played: meta.to, playedImage: meta.toImage, playedAt: now,
      playedCreated: meta.created, lastError: undefined,
    });
  } catch (error) {
    await noteError(ctx, sfs, error);
    throw error;
  }
}

async function noteError(ctx: ReceiverContext, sfs: string, error: unknown): Promise<void> {
  const record = await ctx.incoming.read(sfs).catch(() => undefined);
  if (!record) return;
  const e = error as { code?: string; message?: string };
  await ctx.incoming.write(sfs, {
    ...record, lastError: { code: e.code ?? 'ERR_IO', message: e.message ?? String(error), at: (ctx.now ?? Date.now)() },
  }).catch(() => undefined);
}

/** The replica's checkpoint rep-<n> (its image is the set's), and no older rep-* ones. */
async function keepNewestCut(volume: Volume, n: number): Promise<void> {
  const cuts = volume.listCheckpoints().filter((c) => CUT.test(c.name));
  if (!cuts.some((c) => c.name === cutName(n))) await volume.createCheckpoint(cutName(n));
  for (const c of cuts) if (c.name !== cutName(n)) await volume.deleteCheckpoint(c.name);
}
