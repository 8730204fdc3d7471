// One RCP session as one node sees it (FIG. 14–16): frames come in from the local
// application (at the origin) or from the upstream link (at a forwarder or destination),
// are kept in the retention until every destination below has them, are delivered to the
// local application when this node is a destination, and are passed on unchanged to
// every next hop. Acknowledgements come back from the hops and the local application and
// go up as one summary per node.

import { SnapcopyError } from '../errors.js';
import { type AckReport, Acks } from './acks.js';
import { FRAME, FRAME_HEADER_BYTES, type FrameType, frameName } from './frame.js';
import type { FramePool } from './frame-pool.js';
import { Hop, type HopTarget } from './hop.js';
import type { Link } from './link.js';
import { LocalDelivery, type SessionApp } from './local.js';
import { CONTROL_KIND, isSequenced, SEQ_BYTES, seqOf } from './messages.js';
import { Retention } from './retention.js';
import { onNextTurn } from './turn.js';

export interface SessionParams {
  id: string;
  group: string;
  origin: string;
  app: string;
  meta: Record<string, unknown>;
  /** The nodes the session came through, origin first: a node on it refuses the session (a loop). */
  path: string[];
  /** A destination that acknowledges nothing new for this long is given up. */
  giveUpMs: number;
  /** A next hop unreachable for this long has its own next hops served directly. */
  coverAfterMs: number;
}

/** What a session needs from the node it runs in. */
export interface SessionEnv {
  readonly name: string;
  /** Dials, authenticates and opens (or resumes) the session at a next hop. */
  connectHop(target: HopTarget, params: SessionParams, firstHeld: number): Promise<{ link: Link; have: number }>;
  /** Retained bytes past which a forwarder stops reading from its upstream. */
  readonly maxRetentionBytes: number;
  /** Where released frames go for reuse. */
  readonly pool: FramePool;
  /** Counts bytes sent and failed sessions (the node's /metrics), where the node keeps them. */
  readonly stats?: { sent(group: string, bytes: number): void; sessionFailures: number };
}

export interface DestinationStatus {
  status: 'ok' | 'pending' | 'failed';
  acked: number;
  error?: string;
}

export class Session {
  readonly env: SessionEnv;
  readonly params: SessionParams;
  readonly retention = new Retention();
  readonly acks = new Acks();
  readonly hops = new Map<string, Hop>();
  /** Highest frame held here with every frame before it. */
  have = 0;
  /** Frames taken in, and frames that arrived again after a resumption (should stay 0). */
  readonly stats = { frames: 0, duplicates: 0 };
  /** The sequence number of the END frame, once seen. */
  endSeq: number | undefined;
  readonly #targets: HopTarget[];
  readonly #local: LocalDelivery | undefined;
  #upstream: Link | undefined;
  #ackPending = false;
  #lastAckSent = '';
  #lastRoutesSent = '';
  /** This node is a destination (its application may have failed to start). */
  readonly #deliversHere: boolean;
  #waiters: (() => void)[] = [];
  #closed = false;
  #failureCounted = false;
  /** When the upstream link went away (undefined while attached, and at the origin). */
  detachedSince: number | undefined;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(env: SessionEnv, params: SessionParams, route: { targets: HopTarget[]; local?: SessionApp | Error }) {
    this.env = env;
    this.params = params;
    this.#targets = route.targets;
    this.#deliversHere = route.local !== undefined;
    if (route.local instanceof Error) {
      this.acks.report('local', { acks: {}, failed: { [env.name]: reasonOf(route.local) } }, Date.now());
      this.#countFailure();
    } else if (route.local) {
      this.#local = new LocalDelivery(route.local, {
        delivered: (seq) => this.report('local', { acks: { [env.name]: seq }, failed: {} }),
        failed: (error) => this.report('local', { acks: {}, failed: { [env.name]: reasonOf(error) } }),
        drained: () => this.#relieve(),
      });
      this.acks.report('local', { acks: { [env.name]: 0 }, failed: {} }, Date.now());
    }
    for (const target of route.targets) this.addHop(target);
    const period = Math.max(20, Math.min(250, params.giveUpMs / 4, params.coverAfterMs / 4));
    this.#timer = setInterval(() => this.#tick(Date.now()), period);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Every destination has the END frame, or has been given up. */
  get done(): boolean {
    return this.endSeq !== undefined && this.acks.floor() >= this.endSeq;
  }

  get upstreamPeer(): string | undefined {
    return this.#upstream?.peer;
  }

  addHop(target: HopTarget, coveringFor?: string): Hop {
    const hop = new Hop(this, target, coveringFor);
    this.hops.set(target.name, hop);
    this.acks.report(hop.source, { acks: { [target.name]: 0 }, failed: {} }, Date.now());
    hop.start();
    return hop;
  }

  /**
   * Takes frame `seq` (sealed, header and all). A frame already held is ignored and
   * returns false; a gap is a protocol error.
   */
  addFrame(seq: number, raw: Uint8Array, type: FrameType): boolean {
    if (seq <= this.have) {
      this.stats.duplicates++;
      return false;
    }
    if (seq !== this.have + 1) throw new SnapcopyError('ERR_PROTOCOL', `frame ${seq} arrived before frame ${this.have + 1}`);
    this.retention.add(seq, raw);
    this.have = seq;
    this.stats.frames++;
    this.acks.advance(seq, Date.now());
    if (type === FRAME.CONTROL && isEnd(raw)) this.endSeq = seq;
    this.#local?.enqueue(seq, raw, type);
    for (const hop of this.hops.values()) hop.pump();
    this.#release();
    this.#pressure();
    return true;
  }

  /** A hop's or the local application's acknowledgements. */
  report(source: string, report: AckReport): void {
    if (this.acks.report(source, report, Date.now())) this.#afterAcks();
  }

  /** Gives up every destination a hop stood for, except those another hop now serves. */
  failHop(hop: Hop, reason: string): void {
    const names = this.acks.namesOf(hop.source);
    this.acks.drop(hop.source);
    const served = new Set(Object.keys(this.acks.summary().acks));
    const said = reason.startsWith(`${hop.target.name}:`) ? reason : `${hop.target.name}: ${reason}`;
    for (const name of names) if (!served.has(name)) this.acks.fail(name, said);
    this.#afterAcks();
  }

  /**
   * Tells the upstream this node's next hops, each with the next hops it reported, so the
   * upstream can serve them directly (and theirs, in turn) should this node stop answering.
   */
  routesChanged(): void {
    const link = this.#upstream;
    if (!link || link.closed) return;
    const hops = this.#targets.map((target): HopTarget => {
      const hop = this.hops.get(target.name);
      return {
        name: target.name,
        address: target.address,
        ...(hop?.routes ? { hops: hop.routes } : {}),
        ...(hop?.local !== undefined ? { local: hop.local } : {}),
      };
    });
    const routes = { local: this.#deliversHere, hops };
    const text = JSON.stringify(routes);
    if (text === this.#lastRoutesSent) return;
    this.#lastRoutesSent = text;
    link.sendJson(FRAME.ROUTES, routes);
  }

  /** Stops counting `name` among what `source` reports (a forwarder that turned out to be no destination). */
  forget(source: string, name: string): void {
    this.acks.forget(source, name);
    this.#afterAcks();
  }

  /** A hop whose destinations another node took over: they no longer hold frames here. */
  dropHop(hop: Hop): void {
    this.acks.drop(hop.source);
    this.#afterAcks();
  }

  /** Per destination: has it everything up to the end, is it still going, or lost. */
  destinations(): Record<string, DestinationStatus> {
    const summary = this.acks.summary();
    const result: Record<string, DestinationStatus> = {};
    for (const [name, acked] of Object.entries(summary.acks)) {
      result[name] = { status: this.endSeq !== undefined && acked >= this.endSeq ? 'ok' : 'pending', acked };
    }
    for (const [name, error] of Object.entries(summary.failed)) {
      result[name] = { status: 'failed', acked: this.acks.ackedOf(name), error };
    }
    return result;
  }

  /** Resolves when something changes: room in the window, acknowledgements, the end. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  // --- upstream (forwarders and destinations) ---

  /** Makes `link` this session's upstream; an earlier upstream is told it was superseded. */
  attachUpstream(link: Link): void {
    const previous = this.#upstream;
    if (previous && !previous.closed) previous.fail('ERR_SUPERSEDED', `${link.peer} took session ${this.params.id} over`);
    this.#upstream = link;
    this.detachedSince = undefined;
    this.#lastAckSent = '';
    link.sendJson(FRAME.OPENED, { have: this.have });
    this.#lastRoutesSent = '';
    this.routesChanged();
    link.attach({
      onFrame: (frame) => {
        if (this.#upstream !== link) return;
        if (!isSequenced(frame.type)) {
          link.fail('ERR_PROTOCOL', `a ${frameName(frame.type)} frame is not expected from upstream`);
          return;
        }
        try {
          this.addFrame(seqOf(frame), frame.raw, frame.type);
        } catch (error) {
          const e = error as SnapcopyError;
          link.fail(e.code ?? 'ERR_PROTOCOL', e.message);
        }
      },
      onClose: () => {
        if (this.#upstream !== link) return;
        this.#upstream = undefined;
        this.detachedSince = Date.now();
      },
    });
    this.#sendAck();
    this.#pressure();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const hop of this.hops.values()) hop.close();
    this.#upstream?.close();
    this.#local?.stop();
    this.#wake();
  }

  #afterAcks(): void {
    this.#countFailure();
    this.#release();
    this.#scheduleAck();
    this.#wake();
  }

  /** A session counts as failed once, when its first destination is given up. */
  #countFailure(): void {
    if (this.#failureCounted || this.acks.failures === 0 || !this.env.stats) return;
    this.#failureCounted = true;
    this.env.stats.sessionFailures++;
  }

  #release(): void {
    const floor = Math.min(this.acks.floor(), this.have);
    if (floor >= this.retention.first) {
      this.retention.releaseThrough(floor, (raw) => this.env.pool.release(raw));
      this.#relieve();
      this.#wake();
    }
  }

  /** Stops reading from upstream while too much is held here. */
  #pressure(): void {
    if (this.retention.bytes > this.env.maxRetentionBytes || (this.#local?.backlogBytes ?? 0) > this.env.maxRetentionBytes) {
      this.#upstream?.pause();
    }
  }

  #relieve(): void {
    const limit = this.env.maxRetentionBytes / 2;
    if (this.retention.bytes <= limit && (this.#local?.backlogBytes ?? 0) <= limit) this.#upstream?.resume();
  }

  #scheduleAck(): void {
    if (this.#ackPending || !this.#upstream) return;
    this.#ackPending = true;
    onNextTurn(() => {
      this.#ackPending = false;
      this.#sendAck();
    });
  }

  #sendAck(): void {
    const link = this.#upstream;
    if (!link || link.closed) return;
    const summary = this.acks.summary();
    const text = JSON.stringify(summary);
    if (text === this.#lastAckSent) return;
    this.#lastAckSent = text;
    link.sendJson(FRAME.ACK, summary);
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #tick(now: number): void {
    if (this.#closed) return;
    const stalled = this.acks.stalled(this.have, this.params.giveUpMs, now);
    for (const name of stalled) this.acks.fail(name, `acknowledged nothing new for ${this.params.giveUpMs} ms`);
    for (const hop of [...this.hops.values()]) hop.tick(now);
    if (stalled.length > 0) this.#afterAcks();
  }
}

function isEnd(raw: Uint8Array): boolean {
  return raw[FRAME_HEADER_BYTES + SEQ_BYTES] === CONTROL_KIND.END;
}

/** A destination's failure as reported upstream: the message, and its stable code where it has one ("... [ERR_NO_SPACE]"). */
function reasonOf(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^ERR_[A-Z_]+$/.test(code) ? `${error.message} [${code}]` : error.message;
}
