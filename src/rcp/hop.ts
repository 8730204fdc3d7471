// An outbound session to one next hop (FIG. 16's outbound session): it dials, opens or
// resumes the session there, sends every retained frame from the point the hop says it
// holds, and turns the hop's ACK and ROUTES frames into reports. When the connection
// breaks it redials with backoff; once the hop has been unreachable for the cover delay,
// the session serves the hop's own next hops directly (FIG. 16, CEL2 covering for CEL3).
// Those decisions are a pure machine (hop-state.ts); this class performs its effects.

import { SnapcopyError, type SnapcopyErrorCode } from '../errors.js';
import type { AckReport } from './acks.js';
import { FRAME, type Frame, frameName } from './frame.js';
import type { Link } from './link.js';
import { field, jsonOf } from './messages.js';
import type { Session } from './session.js';
import { type HopEffect, type HopEvent, type HopPhase, type HopReach, initialReach, isFinished, stepHop } from './hop-state.js';

export interface HopTarget {
  /** The node's name, or its address when only that is known. */
  name: string;
  address: string;
  /** Its own next hops, as far down as they have been reported. */
  hops?: HopTarget[];
  /** Whether it delivers to an application itself (false: a pure forwarder), when known. */
  local?: boolean;
}

/** How deep and how many nodes a ROUTES tree may be. */
const MAX_ROUTE_DEPTH = 16;
const MAX_ROUTE_NODES = 1024;

export type HopState = HopPhase;

/** What status and a session's result say of a hop. */
export interface HopSummary {
  name: string;
  state: HopState;
  coveringFor?: string;
  error?: string;
  stats: Hop['stats'];
}

/** Bytes queued on a hop's connection past which it waits for the connection to drain. */
const SEND_QUEUE_BYTES = 4 * 1024 * 1024;

export class Hop {
  readonly session: Session;
  readonly target: HopTarget;
  /** Set when this hop stands in for a next hop that went down. */
  readonly coveringFor: string | undefined;
  /** When to redial, cover or give up (hop-state.ts); this class performs what it decides. */
  #reach: HopReach = initialReach();
  /** The next frame to send. */
  nextSeq = 1;
  lastError: SnapcopyError | undefined;
  /** The hop's own next hops (and theirs), as it reported them or as they were known when it was added. */
  routes: HopTarget[] | undefined;
  /** Whether the hop is itself a destination, once known (from its ROUTES, or its upstream's). */
  local: boolean | undefined;
  /** Frames written, and how many of those had been written before (resent after a break). */
  readonly stats = { sent: 0, resent: 0, resumes: [] as { have: number; acked: number; sentBefore: number }[] };
  #highestSent = 0;
  #link: Link | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;

  constructor(session: Session, target: HopTarget, coveringFor?: string) {
    this.session = session;
    this.target = target;
    this.coveringFor = coveringFor;
    this.routes = target.hops;
    this.local = target.local;
  }

  /** The key of this hop's reports in the session's acknowledgements. */
  get source(): string {
    return `hop:${this.target.name}`;
  }

  get state(): HopState {
    return this.#reach.phase;
  }

  /** Whether its next hops are being served directly. */
  get covered(): boolean {
    return this.#reach.covered;
  }

  get finished(): boolean {
    return isFinished(this.#reach.phase);
  }

  start(): void {
    this.#step({ type: 'dial' });
  }

  summary(): HopSummary {
    return {
      name: this.target.name,
      state: this.state,
      ...(this.coveringFor ? { coveringFor: this.coveringFor } : {}),
      ...(this.lastError ? { error: this.lastError.message } : {}),
      stats: this.stats,
    };
  }

  /** Sends retained frames until the connection's queue is full. */
  pump(): void {
    const link = this.#link;
    if (this.state !== 'open' || !link) return;
    const retention = this.session.retention;
    while (this.nextSeq <= this.session.have && link.conn.queuedBytes < SEND_QUEUE_BYTES) {
      const raw = retention.get(this.nextSeq);
      if (!raw) {
        this.#fail(new SnapcopyError('ERR_UNKNOWN_SESSION', `frame ${this.nextSeq} is no longer held for ${this.target.name}`));
        return;
      }
      this.session.env.stats?.sent(this.session.params.group, raw.byteLength);
      link.send(raw, this.session.env.pool.writing(raw));
      this.stats.sent++;
      if (this.nextSeq <= this.#highestSent) this.stats.resent++;
      else this.#highestSent = this.nextSeq;
      this.nextSeq++;
    }
  }

  tick(now: number): void {
    this.#step({ type: 'tick', now, coverAfterMs: this.session.params.coverAfterMs, knowsNextHops: this.routes !== undefined });
  }

  close(): void {
    this.#step({ type: 'close' });
  }

  /** Feeds an event to the machine and performs what it decides. */
  #step(event: HopEvent): void {
    const { state, effects } = stepHop(this.#reach, event);
    this.#reach = state;
    for (const effect of effects) this.#perform(effect);
  }

  #perform(effect: HopEffect): void {
    switch (effect.type) {
      case 'dial': void this.#connect(); break;
      case 'send': this.pump(); break;
      case 'redial':
        this.#retry = setTimeout(() => this.#step({ type: 'dial' }), effect.afterMs);
        (this.#retry as { unref?: () => void }).unref?.();
        break;
      case 'cover': this.#cover(); break;
      case 'drop': this.session.dropHop(this); break;
      case 'fail': {
        const error = this.#reach.error!;
        this.lastError = new SnapcopyError(error.code as SnapcopyErrorCode, error.message);
        clearTimeout(this.#retry);
        this.#link?.close();
        this.session.failHop(this, `${error.message} [${error.code}]`);
        break;
      }
      case 'close':
        clearTimeout(this.#retry);
        this.#link?.close();
        break;
    }
  }

  /** Serves the hop's own next hops directly (FIG. 16). */
  #cover(): void {
    for (const child of this.routes ?? []) {
      if (child.name !== this.target.name && !this.session.hops.has(child.name)) this.session.addHop(child, this.target.name);
    }
    // A pure forwarder is no destination: once its next hops are served, it holds nothing back.
    if (this.local === false) this.session.forget(this.source, this.target.name);
  }

  async #connect(): Promise<void> {
    if (this.finished || this.session.closed) return;
    let opened: { link: Link; have: number };
    try {
      opened = await this.session.env.connectHop(this.target, this.session.params, this.session.retention.first);
    } catch (error) {
      this.#down(error as SnapcopyError);
      return;
    }
    const { link, have } = opened;
    if (this.finished || this.session.closed) {
      link.close();
      return;
    }
    if (have < this.session.have && have + 1 < this.session.retention.first) {
      link.fail('ERR_UNKNOWN_SESSION', `this node no longer holds frame ${have + 1} of session ${this.session.params.id}`);
      this.#fail(new SnapcopyError('ERR_UNKNOWN_SESSION', `rejoined at frame ${have}, which is no longer held`));
      return;
    }
    this.#link = link;
    if (this.#highestSent > 0) this.#recordResume(have);
    this.nextSeq = have + 1;
    this.#step({ type: 'opened' }); // open, and sending from `have` on
    link.conn.onDrain(() => this.pump());
    // Frames that came during the handshake, or its close, are handled now (as open).
    link.attach({ onFrame: (frame) => this.#onFrame(link, frame), onClose: (error) => this.#onClose(link, error) });
  }

  /** What a resumption starts from, next to what this hop's subtree had acknowledged: the proof that nothing acknowledged is sent twice. */
  #recordResume(have: number): void {
    const acks = this.session.acks;
    const names = acks.namesOf(this.source);
    const acked = names.length ? Math.min(...names.map((name) => acks.ackedOf(name))) : 0;
    if (this.stats.resumes.length < 100) this.stats.resumes.push({ have, acked, sentBefore: this.#highestSent });
  }

  #onFrame(link: Link, frame: Frame): void {
    try {
      if (frame.type === FRAME.ACK) this.session.report(this.source, parseReport(frame));
      else if (frame.type === FRAME.ROUTES) {
        const routes = parseRoutes(frame);
        this.routes = routes.hops;
        this.local = routes.local;
        this.session.routesChanged();
      }
      else throw new SnapcopyError('ERR_PROTOCOL', `a ${frameName(frame.type)} frame is not expected from a next hop`);
    } catch (error) {
      const e = error as SnapcopyError;
      link.fail(e.code ?? 'ERR_PROTOCOL', e.message);
    }
  }

  #onClose(link: Link, error?: SnapcopyError): void {
    if (this.#link !== link) return;
    this.#link = undefined;
    this.#down(error ?? new SnapcopyError('ERR_CLOSED', `${this.target.name} closed the session`));
  }

  #down(error: SnapcopyError): void {
    if (this.finished || this.session.closed) return;
    this.lastError = error;
    this.#step({ type: 'lost', now: Date.now(), code: error.code ?? 'ERR_IO', message: error.message });
  }

  #fail(error: SnapcopyError): void {
    this.lastError = error;
    this.#step({ type: 'fatal', code: error.code, message: error.message });
  }
}

function parseReport(frame: Frame): AckReport {
  const object = jsonOf(frame.payload, 'an ACK frame');
  const acks = field(object, 'acks', 'object', 'ACK');
  const failed = field(object, 'failed', 'object', 'ACK');
  for (const value of Object.values(acks)) {
    if (!Number.isSafeInteger(value) || (value as number) < 0) throw new SnapcopyError('ERR_PROTOCOL', 'ACK values must be frame numbers');
  }
  for (const value of Object.values(failed)) {
    if (typeof value !== 'string') throw new SnapcopyError('ERR_PROTOCOL', 'ACK failures must be strings');
  }
  return { acks: acks as Record<string, number>, failed: failed as Record<string, string> };
}

/** ROUTES: whether the sender delivers locally, and its next hops as a tree. */
function parseRoutes(frame: Frame): { local: boolean | undefined; hops: HopTarget[] } {
  const object = jsonOf(frame.payload, 'a ROUTES frame');
  return { local: typeof object.local === 'boolean' ? object.local : undefined, hops: parseHops(object.hops, 0, { nodes: MAX_ROUTE_NODES }) };
}

function parseHops(hops: unknown, depth: number, budget: { nodes: number }): HopTarget[] {
  if (!Array.isArray(hops)) throw new SnapcopyError('ERR_PROTOCOL', 'ROUTES needs a list of hops');
  if (depth > MAX_ROUTE_DEPTH) throw new SnapcopyError('ERR_PROTOCOL', `ROUTES is deeper than ${MAX_ROUTE_DEPTH}`);
  budget.nodes -= hops.length;
  if (budget.nodes < 0) throw new SnapcopyError('ERR_PROTOCOL', `ROUTES names more than ${MAX_ROUTE_NODES} hops`);
  return hops.map((hop: unknown) => {
    if (typeof hop !== 'object' || hop === null) throw new SnapcopyError('ERR_PROTOCOL', 'a ROUTES hop must be an object');
    const h = hop as Record<string, unknown>;
    const target: HopTarget = { name: field(h, 'name', 'string', 'ROUTES'), address: field(h, 'address', 'string', 'ROUTES') };
    if (h.hops !== undefined) target.hops = parseHops(h.hops, depth + 1, budget);
    if (typeof h.local === 'boolean') target.local = h.local;
    return target;
  });
}
