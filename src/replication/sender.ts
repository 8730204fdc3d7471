// The runner of one primary's state machine (primary.ts): it feeds in time and I/O
// results as events, persists each new state before performing its effects, and
// performs them with the volume API (cuts are checkpoints, sets are delta streams)
// and RCP (one session per set, to the replication's group).

import { join } from 'node:path';
import { promises as fs } from 'node:fs';
import { SnapcopyError } from '../errors.js';
import type { RcpService } from '../rcp/service.js';
import type { DataDir } from '../volume/data-dir.js';
import type { Volume } from '../volume/volume.js';
import { cutName, REPLICATION_APP, type SetMeta } from './receiver.js';
import {
  type PrimaryEffect, type PrimaryEvent, type PrimaryState, newestOf, step,
} from './primary.js';
import type { RecordDir } from './records.js';

/** Data frames of a set's session. */
const FRAME_BYTES = 256 * 1024;

export interface SenderContext {
  self: string;
  dir: DataDir;
  rcp: RcpService;
  records: RecordDir<PrimaryState>;
  /** Where sets are staged before they are sent (the seed's primary save volume). */
  stageDir: string;
  now?: () => number;
  log?: (line: string) => void;
  /** A destination was failed over: fence this primary (read-only, sending stopped). */
  fence?: (pfs: string, node: string, message: string) => Promise<void>;
}

export class Sender {
  #state: PrimaryState;
  #queue: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  readonly #waiters = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  readonly #ctx: SenderContext;
  #nextId = 0;
  /** The send in flight, for the watchdog to abort. */
  #current: { id: number; session: { abort(): void } } | undefined;

  constructor(ctx: SenderContext, state: PrimaryState) {
    this.#ctx = ctx;
    // Work in flight when the node stopped is redone from the persisted state.
    this.#state = { ...state, cutting: false, sending: null, sends: state.sends ?? 0, waiters: [] };
  }

  get state(): PrimaryState {
    return this.#state;
  }

  #now(): number {
    return (this.#ctx.now ?? Date.now)();
  }

  /** Starts ticking: cuts when due, sends when a destination is behind. */
  start(): void {
    const ms = Math.max(50, Math.min(1000, this.#state.options.to * 250));
    this.#timer = setInterval(() => void this.#tick(), ms);
    void this.#tick();
  }

  /** Stops cutting and sending; refreshes still waiting are refused with `reason` (default ERR_CLOSED). */
  async stop(reason?: SnapcopyError): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#queue.catch(() => undefined);
    const error = reason ?? new SnapcopyError('ERR_CLOSED', `replication of ${this.#state.pfs} stopped`);
    for (const waiter of this.#waiters.values()) waiter.reject(error);
    this.#waiters.clear();
  }

  /** Cuts a set now and resolves once every destination has played it. */
  refresh(): Promise<void> {
    const id = `r${this.#nextId++}`;
    const done = new Promise<void>((resolve, reject) => this.#waiters.set(id, { resolve, reject }));
    void this.#enqueue(async () => ({ type: 'refresh', now: this.#now(), id, modifiedBytes: await this.#modifiedBytes() }));
    return done;
  }

  /** Feeds an event (made when its turn comes) through the machine. */
  dispatch(event: PrimaryEvent): Promise<void> {
    return this.#enqueue(async () => event);
  }

  #tick(): Promise<void> {
    return this.#enqueue(async () => ({ type: 'tick', now: this.#now(), modifiedBytes: await this.#modifiedBytes() }));
  }

  #enqueue(make: () => Promise<PrimaryEvent>): Promise<void> {
    const run = async () => {
      if (this.#stopped) return;
      const event = await make();
      const { state, effects } = step(this.#state, event);
      if (state !== this.#state) {
        this.#state = state;
        // Progress is for the watchdog and status only: not worth a durable write per frame.
        if (event.type !== 'progress') await this.#ctx.records.write(state.pfs, state);
      }
      for (const effect of effects) this.#perform(effect);
    };
    this.#queue = this.#queue.then(run, run).catch((error: unknown) => {
      this.#ctx.log?.(`replication of ${this.#state.pfs}: ${(error as Error).message}`);
    });
    return this.#queue;
  }

  /** Effects run beside the queue; their results come back as events. */
  #perform(effect: PrimaryEffect): void {
    switch (effect.type) {
      case 'cut': void this.#cut(effect.n); break;
      case 'send': void this.#send(effect); break;
      case 'delete-cut': void this.#deleteCut(effect.n); break;
      case 'abort-send': if (this.#current?.id === effect.id) this.#current.session.abort(); break;
      case 'resolve': this.#settle(effect.id); break;
      case 'reject': this.#settle(effect.id, new SnapcopyError(effect.code as never, effect.message)); break;
      // After this event's state is saved (the queue runs on), so the fence can stop this sender.
      case 'fence': setImmediate(() => void this.#ctx.fence?.(this.#state.pfs, effect.node, effect.message)); break;
    }
  }

  #settle(id: string, error?: Error): void {
    const waiter = this.#waiters.get(id);
    if (!waiter) return;
    this.#waiters.delete(id);
    if (error) waiter.reject(error);
    else waiter.resolve();
  }

  #volume(): Promise<Volume> {
    return this.#ctx.dir.volume(this.#state.pfs);
  }

  /** Bytes written since the newest cut (what the next set would hold). */
  async #modifiedBytes(): Promise<number> {
    const newest = newestOf(this.#state);
    if (newest === null) return 0;
    try {
      return (await (await this.#volume()).diffSize(cutName(newest))).dataBytes;
    } catch {
      return 0; // a missing cut is found and reported by the next cut or send
    }
  }

  async #cut(n: number): Promise<void> {
    try {
      const volume = await this.#volume();
      // A cut made before a crash that the state never heard of is taken as it is.
      const existing = volume.listCheckpoints().find((c) => c.name === cutName(n));
      const began = this.#now();
      const info = existing ?? await volume.createCheckpoint(cutName(n));
      const previous = newestOf(this.#state);
      const size = await volume.diffSize(previous === null ? null : cutName(previous), cutName(n));
      await this.dispatch({ type: 'cut-done', now: this.#now(), n, image: info.image, blocks: size.dataBlocks, bytes: size.dataBytes, ms: this.#now() - began });
    } catch (error) {
      const e = error as SnapcopyError;
      await this.dispatch({ type: 'cut-failed', now: this.#now(), code: e.code ?? 'ERR_IO', message: e.message });
    }
  }

  async #deleteCut(n: number): Promise<void> {
    try {
      const volume = await this.#volume();
      if (volume.listCheckpoints().some((c) => c.name === cutName(n))) await volume.deleteCheckpoint(cutName(n));
    } catch (error) {
      this.#ctx.log?.(`replication of ${this.#state.pfs}: could not delete ${cutName(n)}: ${(error as Error).message}`);
    }
  }

  async #send(effect: Extract<PrimaryEffect, { type: 'send' }>): Promise<void> {
    const started = this.#now();
    const stage = join(this.#ctx.stageDir, `${this.#state.pfs}.${effect.to}.stream`);
    try {
      const { bytes, blocks } = await this.#stage(effect, stage);
      const results = await this.#transmit(effect, stage, bytes);
      await this.dispatch({ type: 'sent', now: this.#now(), id: effect.id, to: effect.to, bytes, blocks, seconds: (this.#now() - started) / 1000, results });
    } catch (error) {
      const e = error as SnapcopyError;
      await this.dispatch({ type: 'send-failed', now: this.#now(), id: effect.id, code: e.code ?? 'ERR_IO', message: e.message });
    } finally {
      if (this.#current?.id === effect.id) this.#current = undefined;
      await fs.rm(stage, { force: true });
    }
  }

  /** Copies the set's delta stream to a stage file (the volume is locked only while it is read). */
  async #stage(effect: Extract<PrimaryEffect, { type: 'send' }>, path: string): Promise<{ bytes: number; blocks: number }> {
    await fs.mkdir(this.#ctx.stageDir, { recursive: true });
    const volume = await this.#volume();
    const handle = await fs.open(path, 'w');
    let bytes = 0;
    const older = effect.from === null ? null : cutName(effect.from);
    const blocks = (await volume.diffSize(older, cutName(effect.to))).dataBlocks;
    try {
      // coverBetween: replicas at any set between the two ends can play it (every block unused at the end is cleared).
      for await (const piece of volume.exportDiff(older, cutName(effect.to), { transient: true, coverBetween: true })) {
        await handle.write(piece);
        bytes += piece.length;
      }
    } finally {
      await handle.close();
    }
    return { bytes, blocks };
  }

  /** Sends the staged stream over one session to the group; each destination's outcome. */
  async #transmit(
    effect: Extract<PrimaryEffect, { type: 'send' }>, path: string, total: number,
  ): Promise<Record<string, { ok: boolean; code?: string; message?: string }>> {
    const created = this.#state.sets.find((s) => s.n === effect.to)?.created ?? this.#now();
    const meta: SetMeta = {
      pfs: this.#state.pfs, primary: this.#ctx.self, from: effect.from, to: effect.to,
      fromImage: effect.fromImage, toImage: effect.toImage, between: effect.between, created,
      destinations: effect.destinations, targets: effect.targets,
      playback: { dto: this.#state.options.dto, dhwm: this.#state.options.dhwm },
    };
    const session = this.#ctx.rcp.openSession({ group: this.#state.group, app: REPLICATION_APP, meta: meta as unknown as Record<string, unknown> });
    this.#current = { id: effect.id, session };
    const handle = await fs.open(path, 'r');
    const qos = this.#state.options.qos * 1000; // bytes per second
    const started = this.#now();
    try {
      await session.sendControl({ set: effect.to, bytes: total });
      let sent = 0;
      while (sent < total) {
        const frame = session.allocData(Math.min(FRAME_BYTES, total - sent));
        const { bytesRead } = await handle.read(frame.body, 0, frame.body.byteLength, sent);
        if (bytesRead !== frame.body.byteLength) throw new SnapcopyError('ERR_IO', 'the staged delta set shrank while it was sent');
        await session.sendAllocated(frame);
        sent += bytesRead;
        void this.dispatch({ type: 'progress', now: this.#now(), id: effect.id, bytes: sent });
        if (qos > 0) await pace(sent, qos, started, () => this.#now());
      }
      const result = await session.end({ set: effect.to, bytes: total });
      const outcome: Record<string, { ok: boolean; code?: string; message?: string }> = {};
      for (const [node, status] of Object.entries(result.destinations)) {
        outcome[node] = status.status === 'ok'
          ? { ok: true }
          : { ok: false, code: codeIn(status.error), message: (status.error ?? `acknowledged ${status.acked} frames`).replace(/\s*\[ERR_[A-Z_]+\]\s*$/, '') };
      }
      return outcome;
    } catch (error) {
      session.abort();
      throw error;
    } finally {
      await handle.close();
    }
  }
}

/** Waits until `sent` bytes are within the rate `bytesPerSecond` since `started`. */
async function pace(sent: number, bytesPerSecond: number, started: number, now: () => number): Promise<void> {
  const due = started + (sent / bytesPerSecond) * 1000;
  const wait = due - now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** The stable code in a destination's error text ("... [ERR_X]" or "ERR_X: ..."), if any. */
function codeIn(text: string | undefined): string {
  return /\[(ERR_[A-Z_]+)\]\s*$/.exec(text ?? '')?.[1] ?? /\b(ERR_[A-Z_]+)\b/.exec(text ?? '')?.[1] ?? 'ERR_UNREACHABLE';
}
