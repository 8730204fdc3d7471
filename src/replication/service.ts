// Replication as an application of a node: it keeps one sender per primary volume and
// plays sets back into the node's replicas. It uses only the volume API (a DataDir),
// RCP (sessions to a group) and what the node lends it: its routes, and a way to call
// a peer node's HTTP API (to register a replica there before the first set).

import { join } from 'node:path';
import { SnapcopyError, invalidArgument, notFound } from '../errors.js';
import type { RcpService } from '../rcp/service.js';
import type { DataDir } from '../volume/data-dir.js';
import type { ImportOutcome, VolumeStore } from '../volume/store.js';
import type { Volume, VolumeMode } from '../volume/volume.js';
import { checkName } from '../engine/layout.js';
import { type ReplicationOptions } from './options.js';
import { baseOf, initialState, newestOf, phaseOf, type PrimaryState, RETRIES } from './primary.js';
import { PlaybackQueue } from './playback-queue.js';
import { cutName, type IncomingRecord, type ReceiverContext, REPLICATION_APP, replicationReceiver } from './receiver.js';
import { RecordDir } from './records.js';
import { Sender } from './sender.js';
import { type FailoverState, initialFailover } from '../failover/failover.js';
import { type FailoverHost, runFailover } from '../failover/runner.js';
import { initialResync, mergeResync, RESYNC_PHASES, type ResyncPhase, type ResyncResult, type ResyncState } from '../failover/resync.js';
import { runPhases } from '../failover/phases.js';
import { FAILBACK_PHASES, type FailbackPhase, type FailbackState, initialFailback, mergeFailback } from '../failover/failback.js';
import { DEFAULT_OPTIONS } from './options.js';
import { branch, generationName, type Lineage, newLineage } from './lineage.js';
import { compareSides, type SideView, type SidesReport } from './sides.js';
import { failpoint } from '../failover/failpoints.js';

/** How long a failover waits for the primary's node to answer one request. */
const PEER_TIMEOUT_MS = 10_000;
/** ... and for a refresh (a catch-up or the last set of a failover with sync). */
const REFRESH_TIMEOUT_MS = 30 * 60_000;

/**
 * A primary's cuts its state no longer lists (pruned, but the node died before the
 * checkpoint was deleted): deleted, or they would hold before-images forever. A cut at or
 * past the next set is one the state has not heard of yet, and is kept (the next cut takes it).
 */
async function dropForgottenCuts(volume: Volume, state: PrimaryState): Promise<void> {
  for (const c of volume.listCheckpoints()) {
    const n = /^rep-(\d+)$/.exec(c.name)?.[1];
    if (n !== undefined && Number(n) < state.nextSet && !state.cuts.includes(Number(n))) await volume.deleteCheckpoint(c.name);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SnapcopyError('ERR_TIMEOUT', message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What replication needs of the node hosting it (src/node/apps.ts lends it). */
export interface ReplicationHost {
  self: string;
  dataPath: string;
  dir: DataDir;
  rcp: RcpService;
  /** The group to replicate `pfs` over: a `volmcast <group> -src <pfs>` entry, if any. */
  groupOf(pfs: string): string | undefined;
  /** Adds a route (if missing) for `group` to `nextHop`. */
  addRoute(group: string, nextHop: string): Promise<void>;
  /** Whether `node` is a known peer (or this node). */
  knows(node: string): boolean;
  /** Calls a peer node's HTTP API. */
  callPeer(node: string, method: string, path: string, body?: unknown): Promise<unknown>;
  /** A peer node's volumes (its volume API), to stream a delta into. */
  peerStore(node: string): VolumeStore;
  log?: (line: string) => void;
  now?: () => number;
}

/** A destination as fs_replicate names it: `<sfs>:cel=<node>`. */
export interface Destination {
  node: string;
  sfs: string;
}

export class Replication {
  readonly #host: ReplicationHost;
  readonly #senders = new Map<string, Sender>();
  readonly #out: RecordDir<PrimaryState>;
  readonly #in: RecordDir<IncomingRecord>;
  readonly #queue: PlaybackQueue;
  readonly #failovers: RecordDir<FailoverState>;
  readonly #resyncs: RecordDir<ResyncState>;
  readonly #failbacks: RecordDir<FailbackState>;
  /** Each volume's generation numbers (lineage.ts), on both sides of a replication. */
  readonly #lineages: RecordDir<Lineage>;
  /** Block sizes of the primaries, for rates in blocks per second. */
  readonly #blockSizes = new Map<string, number>();

  private constructor(host: ReplicationHost) {
    this.#host = host;
    this.#out = RecordDir.under(host.dataPath, 'out');
    this.#in = RecordDir.under(host.dataPath, 'in');
    this.#failovers = RecordDir.under(host.dataPath, 'failover');
    this.#resyncs = RecordDir.under(host.dataPath, 'resync');
    this.#failbacks = RecordDir.under(host.dataPath, 'failback');
    this.#lineages = RecordDir.under(host.dataPath, 'lineage');
    const receiving: ReceiverContext = { self: host.self, dir: host.dir, incoming: this.#in, now: host.now };
    this.#queue = new PlaybackQueue(join(host.dataPath, 'replication', 'queue'), receiving);
    receiving.queue = this.#queue;
    host.rcp.handle(REPLICATION_APP, replicationReceiver(receiving));
  }

  /** Registers the application and resumes every replication this node is the primary of. */
  static async start(host: ReplicationHost): Promise<Replication> {
    const replication = new Replication(host);
    for (const pfs of await replication.#out.names()) {
      const state = await replication.#out.read(pfs);
      if (!state || state.halted) continue;
      const volume = await host.dir.volume(pfs).catch(() => undefined);
      if (volume) {
        replication.#blockSizes.set(pfs, volume.blockSize);
        await dropForgottenCuts(volume, state);
      }
      replication.#run(state);
    }
    return replication;
  }

  #now(): number {
    return (this.#host.now ?? Date.now)();
  }

  #run(state: PrimaryState): Sender {
    const sender = new Sender({
      self: this.#host.self, dir: this.#host.dir, rcp: this.#host.rcp, records: this.#out,
      stageDir: join(this.#host.dataPath, 'replication', 'stage'), now: this.#host.now, log: this.#host.log,
      fence: (pfs, node, message) => this.#fence(pfs, node, message),
    }, state);
    this.#senders.set(state.pfs, sender);
    sender.start();
    return sender;
  }

  /**
   * fs_replicate -start: registers each replica on its node, then starts cutting and
   * sending; the first set is the new remote copy (FIG. 11). A primary already
   * replicating gains the new destinations (they get a full copy while the others run on).
   */
  async start(pfs: string, destinations: Destination[], options: ReplicationOptions): Promise<PrimaryState> {
    checkName('volume', pfs);
    if (destinations.length === 0) throw invalidArgument('fs_replicate -start needs at least one <sfs>:cel=<node>');
    const primary = await this.#host.dir.volume(pfs); // exists, and is ours to open
    this.#blockSizes.set(pfs, primary.blockSize);
    for (const d of destinations) {
      checkName('volume', d.sfs);
      if (d.node === this.#host.self) throw invalidArgument(`${d.sfs}:cel=${d.node}: a replica goes to another node`);
      if (!this.#host.knows(d.node)) throw notFound(`node ${d.node} is not a known peer (peers file or RCP_config)`);
    }
    const running = this.#senders.get(pfs);
    const known = running?.state.destinations ?? {};
    for (const d of destinations) {
      if (known[d.node]) throw new SnapcopyError('ERR_EXISTS', `${pfs} already replicates to ${known[d.node]!.sfs}:cel=${d.node}`);
    }
    const group = running?.state.group ?? this.#host.groupOf(pfs) ?? `rep-${pfs}`;
    // Every destination is asked first, so one that refuses leaves the others unregistered.
    for (const d of destinations) {
      await this.#host.callPeer(d.node, 'POST', '/v1/replication/incoming', { pfs, sfs: d.sfs, primary: this.#host.self, group, check: true });
    }
    const lineage = await this.#lineageOf(pfs);
    for (const d of destinations) {
      await this.#host.callPeer(d.node, 'POST', '/v1/replication/incoming', { pfs, sfs: d.sfs, primary: this.#host.self, group, lineage });
      if (!this.#host.groupOf(pfs)) await this.#host.addRoute(group, d.node);
    }
    if (running) {
      await running.stop();
      const state = running.state;
      const added = { ...state.destinations };
      for (const d of destinations) added[d.node] = { sfs: d.sfs, played: null, failures: 0 };
      return this.#run({ ...state, destinations: added }).state;
    }
    const map: Record<string, string> = {};
    for (const d of destinations) map[d.node] = d.sfs;
    const state = initialState(pfs, group, options, map, this.#now());
    await this.#out.write(pfs, state);
    return this.#run(state).state;
  }

  /**
   * fs_copy to another node (`-start <ckpt2> <sfs>:cel=<node> -fromfs <ckpt1>`): streams
   * delta(ckpt1, ckpt2) into the remote volume, which refuses it unless it holds
   * ckpt1's image (a remote volume that does not exist is made from a full copy).
   */
  async copyTo(newer: string, older: string, node: string, sfs: string): Promise<ImportOutcome & { full: boolean }> {
    checkName('volume', sfs);
    if (!this.#host.knows(node)) throw notFound(`node ${node} is not a known peer (peers file or RCP_config)`);
    const { volume, checkpoint: newerName } = await this.#host.dir.volumeOfCheckpoint(newer);
    const { checkpoint: olderName } = await this.#host.dir.volumeOfCheckpoint(older, volume.name);
    await volume.diffSize(olderName, newerName); // ERR_NOT_YOUNGER before anything moves
    const remote = this.#host.peerStore(node);
    try {
      const full = !(await remote.list()).some((v) => v.name === sfs);
      const stream = volume.exportDiff(full ? null : olderName, newerName);
      return { ...(await remote.importDiff(sfs, stream, {})), full };
    } finally {
      await remote.close();
    }
  }

  /**
   * server_mount's check: a replica is made read-write by a failover, not by hand (its
   * playback would then meet writes it did not make); a primary that is replicating
   * cannot be made raw (its sets could no longer be read).
   */
  async checkMode(fs: string, mode: VolumeMode): Promise<void> {
    const replica = await this.#in.read(fs);
    if (mode === 'rw' && replica && !replica.promoted) {
      throw new SnapcopyError('ERR_IN_USE',
        `${fs} is the read-only replica of ${replica.pfs}:cel=${replica.primary}: fs_replicate -failover makes it read-write`);
    }
    const sender = this.#senders.get(fs);
    if (mode === 'raw' && sender) {
      throw new SnapcopyError('ERR_IN_USE', `${fs} is replicating to ${Object.keys(sender.state.destinations).join(', ')}: fs_replicate -stop it first`);
    }
  }

  /** Makes a primary read-only (a failover's first step, asked by the secondary's node). */
  async demote(pfs: string): Promise<{ mode: string }> {
    failpoint('demote.start');
    const volume = await this.#host.dir.volume(checkName('volume', pfs));
    await volume.setMode('ro');
    failpoint('demote.end');
    return { mode: volume.mode };
  }

  /**
   * Stops sending a primary's sets but keeps its cuts and state (a failover with sync):
   * a later resync undoes what the primary holds past the restart point with them.
   */
  async halt(pfs: string): Promise<{ halted: string }> {
    failpoint('halt.start');
    const sender = this.#senders.get(pfs);
    if (sender) {
      await sender.stop();
      this.#senders.delete(pfs);
      await this.#out.write(pfs, { ...sender.state, halted: true });
    }
    const record = await this.#out.read(pfs);
    if (!record) throw notFound(`${pfs} is not replicated from node ${this.#host.self}`);
    failpoint('halt.end');
    return { halted: pfs };
  }

  /**
   * A destination of `pfs` said it was failed over: `pfs` is made read-only and stops
   * sending, keeping its cuts and state (as a halt) for the resync that will undo it.
   */
  async #fence(pfs: string, node: string, message: string): Promise<void> {
    const sender = this.#senders.get(pfs);
    if (!sender) return;
    // Read-only first: whoever waited on a refresh hears of the failover only once writes are refused.
    await (await this.#host.dir.volume(pfs)).setMode('ro');
    await sender.stop(new SnapcopyError('ERR_FAILED_OVER', message));
    this.#senders.delete(pfs);
    await this.#out.write(pfs, { ...sender.state, halted: true });
    this.#host.log?.(`${pfs} is read-only now (fenced): ${message}; resync it from there to follow it`);
  }

  /** fs_replicate -failover, run on the secondary's node (FIG. 31–33). */
  async failover(pfs: string, primary: string, sfs: string, options: { sync: boolean; now: boolean }): Promise<FailoverState> {
    checkName('volume', sfs);
    const record = await this.#in.read(sfs);
    if (!record) throw notFound(`${sfs} is not a replica on node ${this.#host.self}`);
    if (record.pfs !== pfs || record.primary !== primary) {
      throw invalidArgument(`${sfs} on ${this.#host.self} is the replica of ${record.pfs}:cel=${record.primary}, not of ${pfs}:cel=${primary}`);
    }
    const saved = await this.#failovers.read(sfs);
    // A finished failover stays finished; one cut short is resumed where it was.
    if (saved?.phase === 'done') return saved.primaryDemoted ? saved : this.#demoteLate(saved);
    const state = saved ? { ...saved, sync: options.sync, now: options.now } : initialFailover(sfs, pfs, primary, options);
    return runFailover(this.#failoverHost(), state);
  }

  /**
   * A failover that went on without its primary (it could not be reached), issued again:
   * the primary, back since, is made read-only now, so the two sides are not both
   * read-write. Not once a resync has begun (it makes the primary raw, then a replica).
   */
  async #demoteLate(state: FailoverState): Promise<FailoverState> {
    if (await this.#resyncs.read(state.sfs)) return state;
    try {
      await this.#failoverHost().demotePrimary(state);
    } catch {
      return state; // still unreachable: the report says so again
    }
    const demoted = { ...state, primaryDemoted: true };
    await this.#failovers.write(state.sfs, demoted);
    return demoted;
  }

  #failoverHost(): FailoverHost {
    // A refresh may move a large set; a demote or a halt is quick, so a primary that does
    // not answer them soon is taken as down.
    const peer = (state: FailoverState, path: string, ms = PEER_TIMEOUT_MS) => withTimeout(
      this.#host.callPeer(state.primary, 'POST', path, { pfs: state.pfs }),
      ms, `node ${state.primary} did not answer within ${ms / 1000} s`,
    );
    return {
      save: (state) => this.#failovers.write(state.sfs, state),
      refreshPrimary: async (state) => void (await peer(state, '/v1/replication/refresh', REFRESH_TIMEOUT_MS)),
      demotePrimary: async (state) => void (await peer(state, '/v1/replication/demote')),
      haltPrimary: async (state) => void (await peer(state, '/v1/replication/halt')),
      playHeld: async (state, drop) => {
        if (drop) await this.#queue.dropAll(state.sfs);
        else await this.#queue.playAll(state.sfs);
        return (await this.#in.read(state.sfs))?.played ?? null;
      },
      restartPoint: async (state) => {
        const volume = await this.#host.dir.volume(state.sfs);
        const name = `restart-${state.lastPlayed ?? 'none'}`;
        if (!volume.listCheckpoints().some((c) => c.name === name)) await volume.createCheckpoint(name);
        return `${state.sfs}@${name}`;
      },
      promote: async (state) => {
        const record = (await this.#in.read(state.sfs))!;
        // The promoted side begins a generation of its own, parting at the last set it played
        // (the image its primary's cut of that set holds too).
        const parted = record.playedImage ?? (await this.#host.dir.volume(state.sfs)).base;
        const lineage = await this.#lineageOf(state.sfs, record.primary);
        if (parted) await this.#lineages.write(state.sfs, branch(lineage, this.#host.self, parted));
        if (!record.promoted) await this.#in.write(state.sfs, { ...record, promoted: { at: this.#now(), restartPoint: state.restartPoint ?? '' } });
        failpoint('promote.recorded');
        await (await this.#host.dir.volume(state.sfs)).setMode('rw');
      },
    };
  }

  /**
   * fs_replicate -resync, run on the node of the source (a secondary that was failed
   * over): the old primary is undone to the restart point and brought forward with the
   * differential, then replicated to from here (resync.ts says each phase).
   */
  async resync(sfs: string, pfs: string, primary: string, options: { autofullcopy: boolean }): Promise<ResyncState> {
    checkName('volume', sfs);
    const saved = await this.#resyncs.read(sfs);
    if (saved?.phase === 'done') return saved;
    const record = await this.#in.read(sfs);
    if (!saved && (!record?.promoted || record.pfs !== pfs || record.primary !== primary)) {
      throw invalidArgument(`${sfs} on ${this.#host.self} was not failed over from ${pfs}:cel=${primary}: fs_replicate -failover first`);
    }
    const state = await runPhases(RESYNC_PHASES, saved ? { ...saved, autofullcopy: options.autofullcopy } : initialResync(sfs, pfs, primary, options), {
      save: (next) => this.#resyncs.write(sfs, next),
      perform: (current, phase) => this.#resyncPhase(current, phase),
      merge: mergeResync,
      name: 'resync',
    });
    if (state.phase === 'failed') {
      throw new SnapcopyError((state.error?.code ?? 'ERR_IO') as never,
        `resync of ${pfs}:cel=${primary} from ${sfs} stopped at ${state.error?.phase}: ${state.error?.message} (fix the cause and issue the same command again)`);
    }
    return state;
  }

  /** One resync phase (idempotent: a re-issue may run it again). */
  async #resyncPhase(state: ResyncState, phase: ResyncPhase): Promise<ResyncResult> {
    // Gone once the reverse phase made the source a primary (a reverse cut short and run again needs no restart image).
    const record = await this.#in.read(state.sfs);
    const restartImage = record?.playedImage ?? '';
    const call = (path: string, body: Record<string, unknown>) => withTimeout(
      this.#host.callPeer(state.primary, 'POST', path, { pfs: state.pfs, ...body }), 60_000, `node ${state.primary} did not answer`,
    );
    const source = await this.#host.dir.volume(state.sfs);
    const restart = source.listCheckpoints().find((c) => c.name.startsWith('restart-'));
    if (!restart) throw notFound(`${state.sfs} has no restart point (restart-<n>)`);
    const send = async (from: string | null, to: string) => {
      const remote = this.#host.peerStore(state.primary);
      try {
        await remote.importDiff(state.pfs, source.exportDiff(from, to), { replica: true });
      } finally {
        await remote.close();
      }
    };
    switch (phase) {
      case 'keep-diverged': {
        const report = await this.compare(state.sfs, state.primary, state.pfs);
        const sides = {
          splitBrain: report.divergence?.splitBrain ?? false,
          wrote: { source: report.divergence?.wrote.local ?? null, follower: report.divergence?.wrote.remote ?? null },
          generations: { source: report.generations.local, follower: report.generations.remote },
          follower: `${state.pfs}:cel=${state.primary}`,
        };
        const diverged = (await call('/v1/replication/keep-diverged', { image: restartImage, autofullcopy: state.autofullcopy })) as {
          blocks: number; checkpoint: string | null;
        };
        return { diverged, sides };
      }
      case 'raw': {
        if (state.fullCopy) return {};
        // The old primary may have resumed sending after its restart: it stops, keeping its cuts.
        await call('/v1/replication/halt', {}).catch((error: { code?: string }) => {
          if (error.code !== 'ERR_NOT_FOUND') throw error;
        });
        const remote = this.#host.peerStore(state.primary);
        try {
          await remote.setMode(state.pfs, 'raw');
        } finally {
          await remote.close();
        }
        return {};
      }
      case 'undo':
        return (await call('/v1/replication/undo', { image: restartImage, autofullcopy: state.autofullcopy })) as { fullCopy: boolean };
      case 'copy-1':
        if (!source.listCheckpoints().some((c) => c.name === 'resync-1')) {
          // The sets it played as a replica are the old direction's: set 0 of the new one comes next.
          for (const c of source.listCheckpoints()) if (/^rep-\d+$/.test(c.name)) await source.deleteCheckpoint(c.name);
          await source.createCheckpoint('resync-1');
        }
        await send(state.fullCopy ? null : restart.name, 'resync-1');
        return {};
      case 'copy-2': {
        if (!source.listCheckpoints().some((c) => c.name === cutName(0))) await source.createCheckpoint(cutName(0));
        await send('resync-1', cutName(0));
        return {};
      }
      case 'reverse':
        await this.#reverse(state);
        return {};
    }
  }

  /**
   * fs_replicate -failback, run on the node of the current source: the replica on `node`
   * becomes the primary and this source its replica, without a full copy (failback.ts).
   */
  async failback(source: string, node: string, replica: string): Promise<FailbackState> {
    checkName('volume', source);
    const saved = await this.#failbacks.read(source);
    if (saved?.phase === 'done') return saved;
    if (!saved) {
      const d = this.#sender(source).state.destinations[node];
      if (!d || d.sfs !== replica) throw notFound(`${source} does not replicate to ${replica}:cel=${node}`);
    }
    const state = await runPhases(FAILBACK_PHASES, saved ?? initialFailback(source, replica, node), {
      save: (next) => this.#failbacks.write(source, next),
      perform: (current, phase) => this.#failbackPhase(current, phase),
      merge: mergeFailback,
      name: 'failback',
    });
    if (state.phase === 'failed') {
      throw new SnapcopyError((state.error?.code ?? 'ERR_IO') as never,
        `failback of ${source} to ${replica}:cel=${node} stopped at ${state.error?.phase}: ${state.error?.message} (fix the cause and issue the same command again)`);
    }
    return state;
  }

  async #failbackPhase(state: FailbackState, phase: FailbackPhase): Promise<{ set?: number }> {
    const volume = await this.#host.dir.volume(state.source);
    switch (phase) {
      case 'catch-up':
        if (this.#senders.has(state.source)) await this.refresh(state.source);
        return {};
      case 'source-ro':
        await volume.setMode('ro');
        return {};
      case 'last-set': {
        if (!this.#senders.has(state.source)) return {}; // already halted: the set was recorded
        const after = await this.refresh(state.source);
        return { set: newestOf(after) ?? undefined };
      }
      case 'halt': {
        const sender = this.#senders.get(state.source);
        if (sender) {
          await sender.stop();
          this.#senders.delete(state.source);
        }
        await this.#out.remove(state.source);
        return {};
      }
      case 'turn': {
        const cut = volume.listCheckpoints().find((c) => c.name === cutName(state.set!));
        if (!cut) throw notFound(`${state.source} has no ${cutName(state.set!)}: the set both sides hold`);
        const group = (await withTimeout(this.#host.callPeer(state.node, 'POST', '/v1/replication/take-over', {
          pfs: state.replica, sfs: state.source, destination: this.#host.self, set: state.set, image: cut.image,
        }), 60_000, `node ${state.node} did not answer`)) as { group: string };
        await this.#adopt(state.replica, state.source, state.node, group.group, { played: state.set!, image: cut.image });
        return {};
      }
      case 'primary-rw': {
        const remote = this.#host.peerStore(state.node);
        try {
          await remote.setMode(state.replica, 'rw');
        } finally {
          await remote.close();
        }
        return {};
      }
    }
  }

  /**
   * On the replica's node (a failback's turn): the replica becomes the primary, sending to
   * `destination` from set `set`, which both sides hold (the replica as its rep-<set>).
   */
  async takeOver(pfs: string, sfs: string, destination: string, set: number, image: string): Promise<{ group: string }> {
    failpoint('take-over.start');
    const volume = await this.#host.dir.volume(checkName('volume', pfs));
    const group = this.#host.groupOf(pfs) ?? `rep-${pfs}`;
    if (this.#senders.has(pfs)) {
      // Taken over already (a re-issue): its node may have died before it stopped being a replica.
      await this.#in.remove(pfs);
      if (!this.#host.groupOf(pfs)) await this.#host.addRoute(group, destination);
      return { group };
    }
    if (volume.base !== image) throw new SnapcopyError('ERR_WRONG_BASE', `${pfs} on ${this.#host.self} does not hold set ${set} of ${destination}:${sfs}`);
    // Its cut of that set must hold that set's image (a left-over of another direction is replaced).
    const stale = volume.listCheckpoints().find((c) => c.name === cutName(set) && c.image !== image);
    if (stale) await volume.deleteCheckpoint(stale.name);
    if (!volume.listCheckpoints().some((c) => c.name === cutName(set))) await volume.createCheckpoint(cutName(set));
    const now = this.#now();
    const fresh = initialState(pfs, group, DEFAULT_OPTIONS, { [destination]: sfs }, now);
    const state: PrimaryState = {
      ...fresh, nextSet: set + 1, cuts: [set], sets: [{ n: set, image, created: now, blocks: 0, bytes: 0, played: {} }],
      destinations: { [destination]: { sfs, played: set, playedAt: now, failures: 0 } },
    };
    await this.#out.write(pfs, state);
    failpoint('take-over.recorded');
    await this.#in.remove(pfs);
    if (!this.#host.groupOf(pfs)) await this.#host.addRoute(group, destination);
    this.#blockSizes.set(pfs, volume.blockSize);
    this.#run(state);
    failpoint('take-over.end');
    return { group };
  }

  /** The old primary becomes the replica of the source, which replicates to it from its set 0. */
  async #reverse(state: ResyncState): Promise<void> {
    const source = await this.#host.dir.volume(state.sfs);
    const cut0 = source.listCheckpoints().find((c) => c.name === cutName(0))!;
    const group = this.#host.groupOf(state.sfs) ?? `rep-${state.sfs}`;
    await this.#host.callPeer(state.primary, 'POST', '/v1/replication/incoming', {
      pfs: state.sfs, sfs: state.pfs, primary: this.#host.self, group, adopt: { played: 0, image: cut0.image },
      lineage: await this.#lineageOf(state.sfs),
    });
    if (!this.#host.groupOf(state.sfs)) await this.#host.addRoute(group, state.primary);
    if (!this.#senders.has(state.sfs)) {
      const now = this.#now();
      const fresh = initialState(state.sfs, group, DEFAULT_OPTIONS, { [state.primary]: state.pfs }, now);
      const primaryState: PrimaryState = {
        ...fresh, nextSet: 1, cuts: [0], sets: [{ n: 0, image: cut0.image, created: now, blocks: 0, bytes: 0, played: {} }],
        destinations: { [state.primary]: { sfs: state.pfs, played: 0, playedAt: now, failures: 0 } },
      };
      await this.#out.write(state.sfs, primaryState);
      this.#blockSizes.set(state.sfs, source.blockSize);
      this.#run(primaryState);
    }
    failpoint('reverse.sending');
    await this.#in.remove(state.sfs); // a primary now, no longer a replica
    await this.#failovers.remove(state.sfs);
    failpoint('reverse.end');
  }

  #cannotUndo(pfs: string): SnapcopyError {
    return new SnapcopyError('ERR_WRONG_BASE',
      `${pfs} on ${this.#host.self} no longer holds the restart point's set (no checkpoint with its image), so it cannot be undone: `
      + 'issue the resync again with -option autofullcopy=yes to set it aside (kept, renamed) and make a full copy');
  }

  /** On the old primary: keeps what it took after the restart point as a checkpoint; the blocks that diverged. */
  async keepDiverged(pfs: string, restartImage: string, autofullcopy = false): Promise<{ blocks: number; checkpoint: string | null }> {
    failpoint('keep-diverged.start');
    const volume = await this.#host.dir.volume(checkName('volume', pfs));
    const cut = volume.listCheckpoints().findLast((c) => c.image === restartImage);
    if (volume.base === restartImage) return { blocks: 0, checkpoint: null }; // at the restart point: nothing diverged
    // Refused before anything changes: a resync that cannot undo it leaves it as it was.
    if (!cut && !autofullcopy) throw this.#cannotUndo(pfs);
    const existing = volume.listCheckpoints().find((c) => c.name.startsWith('diverged-') && c.image === volume.base);
    const size = cut ? await volume.diffSize(cut.name) : undefined;
    const blocks = size ? size.dataBlocks + size.unusedBlocks : -1;
    if (blocks === 0) return { blocks, checkpoint: null };
    const name = existing?.name ?? (await volume.createCheckpoint(`diverged-${new Date(this.#now()).toISOString().replace(/[:.]/g, '-')}`)).name;
    failpoint('keep-diverged.end');
    return { blocks, checkpoint: `${pfs}@${name}` };
  }

  /**
   * On the old primary: undoes it to its cut of the restart point's set (the saved
   * before-images), stopping its own replication; without that cut, sets it aside
   * (renamed, kept) for a full copy when allowed, else refuses.
   */
  async undo(pfs: string, restartImage: string, autofullcopy: boolean): Promise<{ fullCopy: boolean }> {
    failpoint('undo.start');
    const volume = await this.#host.dir.volume(checkName('volume', pfs));
    const sender = this.#senders.get(pfs);
    if (sender) await this.halt(pfs);
    const cut = volume.listCheckpoints().findLast((c) => c.image === restartImage);
    // Already at the restart point (an undo cut short after its restore, issued again): its cut may be gone.
    if (cut || volume.base === restartImage) {
      if (volume.base !== restartImage) await volume.restore(cut!.name, { rebuild: true });
      failpoint('undo.restored');
      // Its cuts belong to the old direction: the new one numbers its sets afresh.
      for (const c of volume.listCheckpoints()) if (/^rep-\d+$/.test(c.name)) await volume.deleteCheckpoint(c.name);
      await this.#out.remove(pfs);
      failpoint('undo.end');
      return { fullCopy: false };
    }
    if (!autofullcopy) throw this.#cannotUndo(pfs);
    const aside = `${pfs}-diverged-${Date.now()}`;
    await this.#host.dir.rename(pfs, aside);
    await this.#out.remove(pfs);
    return { fullCopy: true };
  }

  /** fs_replicate -refresh: cuts a set now; resolves once every destination has played it. */
  async refresh(pfs: string): Promise<PrimaryState> {
    failpoint('refresh.start');
    const sender = this.#sender(pfs);
    await sender.refresh();
    failpoint('refresh.end');
    return sender.state;
  }

  /** fs_replicate -modify. */
  async modify(pfs: string, options: ReplicationOptions): Promise<PrimaryState> {
    const sender = this.#sender(pfs);
    await sender.dispatch({ type: 'modify', options });
    return sender.state;
  }

  /** fs_replicate -stop: one destination, or all (then the primary's cuts go too). */
  async stop(pfs: string, node?: string): Promise<{ stopped: string[] }> {
    const sender = this.#sender(pfs);
    const nodes = Object.keys(sender.state.destinations);
    if (node !== undefined && !nodes.includes(node)) throw notFound(`${pfs} does not replicate to node ${node}`);
    if (node !== undefined && nodes.length > 1) {
      await sender.dispatch({ type: 'remove-destination', node });
      return { stopped: [node] };
    }
    await sender.stop();
    this.#senders.delete(pfs);
    const volume = await this.#host.dir.volume(pfs);
    for (const c of volume.listCheckpoints()) if (/^rep-\d+$/.test(c.name)) await volume.deleteCheckpoint(c.name);
    await this.#out.remove(pfs);
    return { stopped: nodes };
  }

  /** Registers a replica on this node (called by the primary before its first set). */
  async registerIncoming(
    pfs: string, sfs: string, primary: string, group: string,
    options: { check?: boolean; adopt?: { played: number; image: string }; lineage?: Lineage } = {},
  ): Promise<IncomingRecord> {
    checkName('volume', sfs);
    if (options.adopt) return this.#adopt(pfs, sfs, primary, group, options.adopt, options.lineage);
    const existing = await this.#in.read(sfs);
    if (existing && (existing.pfs !== pfs || existing.primary !== primary)) {
      throw new SnapcopyError('ERR_EXISTS', `${sfs} on ${this.#host.self} is already the replica of ${existing.primary}:${existing.pfs}`);
    }
    if (!existing && (await this.#host.dir.volumeNames()).includes(sfs)) {
      throw new SnapcopyError('ERR_EXISTS', `${sfs} exists on ${this.#host.self} and is not a replica of ${primary}:${pfs}: choose another name, or destroy it first`);
    }
    const record: IncomingRecord = existing ?? { sfs, pfs, primary, played: null };
    if (options.check) return record;
    // A replica follows its primary's lineage (generation numbers).
    if (options.lineage) await this.#lineages.write(sfs, options.lineage);
    await this.#in.write(sfs, record);
    await this.#host.addRoute(group, this.#host.self);
    return record;
  }

  /** A resync's end: an existing volume holding the source's set becomes its read-only replica. */
  async #adopt(
    pfs: string, sfs: string, primary: string, group: string, at: { played: number; image: string }, lineage?: Lineage,
  ): Promise<IncomingRecord> {
    failpoint('adopt.start');
    const volume = await this.#host.dir.volume(sfs);
    if (volume.base !== at.image) {
      throw new SnapcopyError('ERR_WRONG_BASE', `${sfs} on ${this.#host.self} does not hold set ${at.played} of ${primary}:${pfs}`);
    }
    if (lineage) await this.#lineages.write(sfs, lineage); // it follows the source's generation from here
    const record: IncomingRecord = { sfs, pfs, primary, played: at.played, playedImage: at.image, playedAt: this.#now() };
    await this.#in.write(sfs, record);
    failpoint('adopt.recorded');
    await this.#out.remove(sfs);
    await volume.setMode('ro');
    await this.#host.addRoute(group, this.#host.self);
    failpoint('adopt.end');
    return record;
  }

  /** Every replication this node takes part in. */
  async list(): Promise<{ primaries: ReturnType<Replication['describe']>[]; replicas: IncomingRecord[] }> {
    const replicas = [];
    for (const sfs of await this.#in.names()) {
      const record = await this.#in.read(sfs);
      if (record) replicas.push(record);
    }
    return { primaries: [...this.#senders.values()].map((s) => this.describe(s.state)), replicas };
  }

  /** fs_replicate -info of a primary or a replica on this node. */
  async info(fs: string): Promise<unknown> {
    const lineage = await this.#lineages.read(fs);
    const generation = lineage ? generationName(lineage.current) : null;
    const sender = this.#senders.get(fs);
    if (sender) return { ...this.describe(sender.state), generation };
    const replica = await this.#in.read(fs);
    if (replica) {
      // A replica that was failed over may be in a split brain with its old primary.
      const partner = replica.promoted ? await this.#splitBrainWith(fs, replica.primary, replica.pfs) : null;
      return { ...this.#describeReplica(replica), generation, promoted: replica.promoted ?? null, partner };
    }
    const halted = await this.#out.read(fs);
    if (halted?.halted) {
      // A primary stopped by a failover: its destinations may have taken writes since.
      const partners = [];
      for (const [node, d] of Object.entries(halted.destinations)) partners.push(await this.#splitBrainWith(fs, node, d.sfs));
      return { ...this.describe(halted), state: 'halted', generation, partners };
    }
    throw notFound(`${fs} is neither replicated from nor to node ${this.#host.self}`);
  }

  /** Whether `fs` here and `other` on `node` both took writes since they parted (null: cannot tell now). */
  async #splitBrainWith(fs: string, node: string, other: string) {
    const name = `${other}:cel=${node}`;
    try {
      const report = await this.compare(fs, node, other);
      return { name, generation: report.generations.remote, splitBrain: report.divergence?.splitBrain ?? null, wrote: report.divergence?.wrote ?? null, differingBlocks: report.differingBlocks };
    } catch (error) {
      return { name, generation: null, splitBrain: null, wrote: null, differingBlocks: null, error: (error as Error).message };
    }
  }

  /** The primary's state as status: phase, lag per destination, pending bytes, sets. */
  describe(state: PrimaryState) {
    const now = this.#now();
    const newest = newestOf(state);
    const createdOf = (n: number | null) => (n === null ? undefined : state.sets.find((s) => s.n === n)?.created);
    const destinations = Object.entries(state.destinations).map(([node, d]) => ({
      node, sfs: d.sfs, currentDeltaSet: d.played,
      lagSeconds: d.played === null ? null : Math.max(0, (now - (createdOf(d.played) ?? now)) / 1000),
      lastSuccess: d.lastSuccess ?? null,
      lastError: d.error ?? null,
      state: d.failures >= RETRIES ? 'error' : d.played === newest ? 'in-sync' : 'behind',
    }));
    const pendingSets = state.sets.filter((s) => s.n > (baseOf(state) ?? -1));
    return {
      type: 'replication' as const,
      name: state.pfs,
      group: state.group,
      state: phaseOf(state, now),
      currentDeltaSet: newest,
      nextDeltaSet: state.nextSet,
      options: state.options,
      pendingSets: pendingSets.length,
      pendingBytes: pendingSets.reduce((n, s) => n + s.bytes, 0),
      pendingBlocks: pendingSets.reduce((n, s) => n + s.blocks, 0),
      sending: state.sending && { from: state.sending.from, to: state.sending.to, bytes: state.sending.bytes, since: state.sending.startedAt },
      ...this.#rates(state, now),
      destinations,
      sets: state.sets.map((s) => ({
        n: s.n, created: s.created, cutMs: s.cutMs ?? 0, blocks: s.blocks, bytes: s.bytes, played: s.played ?? {},
      })),
    };
  }

  /**
   * The seed's current_block_number (blocks of the set in flight sent so far),
   * current_transfer_rate (of that send) and avg_transfer_rate (over the sets played),
   * in blocks per second.
   */
  #rates(state: PrimaryState, now: number) {
    const blockSize = this.#blockSizes.get(state.pfs) ?? 0;
    const sending = state.sending;
    const currentBlockNumber = sending && blockSize ? Math.floor(sending.bytes / blockSize) : 0;
    const seconds = sending ? Math.max(0.001, (now - sending.startedAt) / 1000) : 0;
    const plays = state.sets.flatMap((s) => Object.values(s.played ?? {}));
    const blocks = plays.reduce((n, p) => n + p.blocks, 0);
    const ms = plays.reduce((n, p) => n + p.ms, 0);
    return {
      currentBlockNumber,
      currentTransferRate: sending ? currentBlockNumber / seconds : 0,
      avgTransferRate: ms > 0 ? blocks / (ms / 1000) : 0,
    };
  }

  #describeReplica(record: IncomingRecord) {
    const now = this.#now();
    return {
      type: 'playback' as const,
      name: record.sfs,
      source: `${record.pfs}:cel=${record.primary}`,
      currentDeltaSet: record.played,
      playedAt: record.playedAt ?? null,
      lagSeconds: record.playedCreated === undefined ? null : Math.max(0, (now - record.playedCreated) / 1000),
      lastError: record.lastError ?? null,
    };
  }

  /** A volume's lineage; one that has none yet begins in generation 1 of `node` (this node by default). */
  async #lineageOf(fs: string, node = this.#host.self): Promise<Lineage> {
    const known = await this.#lineages.read(fs);
    if (known) return known;
    const lineage = newLineage(node);
    await this.#lineages.write(fs, lineage);
    return lineage;
  }

  /** What another node needs to compare its side with this one's `fs` (GET /v1/replication/side). */
  async side(fs: string): Promise<SideView> {
    const volume = await this.#host.dir.volume(checkName('volume', fs));
    return {
      lineage: (await this.#lineages.read(fs)) ?? null,
      checkpoints: volume.listCheckpoints().map((c) => ({ name: c.name, image: c.image })),
      base: volume.base,
    };
  }

  /**
   * This node's `fs` against `other` on `node`, at any stage: the blocks that differ
   * (exact, from both sides' bit maps since the newest image both hold), each side's
   * generation, and whether both took writes since they parted (a split brain).
   */
  async compare(fs: string, node: string, other: string): Promise<SidesReport> {
    const volume = await this.#host.dir.volume(checkName('volume', fs));
    const local = await this.side(fs);
    const remote = (await withTimeout(this.#host.callPeer(node, 'GET', `/v1/replication/side?fs=${encodeURIComponent(checkName('volume', other))}`),
      PEER_TIMEOUT_MS, `node ${node} did not answer within ${PEER_TIMEOUT_MS / 1000} s`)) as SideView;
    const store = this.#host.peerStore(node);
    try {
      return await compareSides(local, remote, {
        local: async (checkpoint) => volume.diff(checkpoint),
        remote: (checkpoint) => store.diff(other, checkpoint),
      }, volume.blocks);
    } finally {
      await store.close();
    }
  }

  /**
   * fs_replicate -status: how many blocks differ between `fs` here and `other` on `node`
   * (exact, from the bit maps), each side's delta-set number where `fs` replicates to
   * it, each side's generation and whether they are in a split brain.
   */
  async status(fs: string, node: string, other?: string): Promise<SidesReport & { primaryDeltaSet: number | null; replicaDeltaSet: number | null }> {
    const sender = this.#senders.get(fs);
    const d = sender?.state.destinations[node];
    const partner = other ?? d?.sfs ?? (await this.#partnerOf(fs, node));
    const report = await this.compare(fs, node, partner);
    return { ...report, primaryDeltaSet: sender && d ? newestOf(sender.state) : null, replicaDeltaSet: d ? d.played : null };
  }

  /** The volume `fs` pairs with on `node`, from this node's records (for -status without the other name). */
  async #partnerOf(fs: string, node: string): Promise<string> {
    const replica = await this.#in.read(fs);
    if (replica?.primary === node) return replica.pfs;
    const out = await this.#out.read(fs);
    const d = out?.destinations[node];
    if (d) return d.sfs;
    throw notFound(`${fs} does not replicate to or from node ${node}`);
  }

  async close(): Promise<void> {
    for (const sender of this.#senders.values()) await sender.stop();
    this.#senders.clear();
    await this.#queue.close();
  }

  #sender(pfs: string): Sender {
    const sender = this.#senders.get(pfs);
    if (!sender) throw notFound(`${pfs} is not replicated from node ${this.#host.self}`);
    return sender;
  }
}
