// The RCP collector service of one node (FIG. 14–15, 17): it opens sessions for local
// applications, accepts inbound sessions after the handshake, looks their group up in the
// routing table (an unknown group is an error back to the sender), forwards to the next
// hops and delivers to local applications.

import { invalidArgument, SnapcopyError } from '../errors.js';
import type { Conn, Dial } from './conn.js';
import { DEFAULT_MAX_PAYLOAD, FRAME, frameName, HANDSHAKE_MAX_PAYLOAD } from './frame.js';
import { FramePool } from './frame-pool.js';
import { randomHex } from './auth.js';
import { clientHandshake, isNodeName, serverHandshake } from './handshake.js';
import type { HopSummary, HopTarget } from './hop.js';
import { DEFAULT_TIMERS, Link, type LinkTimers } from './link.js';
import type { SessionApp } from './local.js';
import { field, jsonOf } from './messages.js';
import { OriginSession } from './origin.js';
import { type DestinationStatus, Session, type SessionEnv, type SessionParams } from './session.js';
import { checkGroupName } from './routing.js';

/** Builds the application side of an inbound session. */
export type AppFactory = (session: Readonly<SessionParams>) => SessionApp;

export interface RcpTuning {
  timers: LinkTimers;
  handshakeTimeoutMs: number;
  giveUpMs: number;
  coverAfterMs: number;
  /** Bytes an origin may have unacknowledged per session. */
  windowBytes: number;
  /** Bytes a forwarder holds per session before it stops reading upstream. */
  maxRetentionBytes: number;
  maxPayload: number;
  maxSessions: number;
  /** How long a finished inbound session is kept for a late resume. */
  lingerMs: number;
  /** How long an unfinished inbound session waits for its upstream to come back. */
  idleMs: number;
}

export const DEFAULT_TUNING: RcpTuning = {
  timers: DEFAULT_TIMERS,
  handshakeTimeoutMs: 5000,
  giveUpMs: 30_000,
  coverAfterMs: 2000,
  windowBytes: 32 * 1024 * 1024,
  maxRetentionBytes: 64 * 1024 * 1024,
  maxPayload: DEFAULT_MAX_PAYLOAD,
  maxSessions: 256,
  lingerMs: 60_000,
  idleMs: 10 * 60_000,
};

export interface RcpServiceOptions {
  name: string;
  secret: string;
  dial: Dial;
  /** The next hops of a group at this node (names or host:port); none for an unknown group. */
  nextHops(group: string): readonly string[];
  /** Where to dial a next hop; undefined for a name this node does not know. */
  resolve(hop: string): HopTarget | undefined;
  tuning?: Partial<RcpTuning>;
}

export interface SessionInfo {
  id: string;
  group: string;
  origin: string;
  app: string;
  upstream: string | undefined;
  have: number;
  end: number | undefined;
  retainedBytes: number;
  stats: Session['stats'];
  hops: HopSummary[];
  destinations: Record<string, DestinationStatus>;
}

/**
 * What this node's sessions did, for /metrics: bytes written to next hops per group
 * (resends included: they are bytes on the wire), and sessions in which a destination
 * was given up, each counted once.
 */
export class RcpStats {
  readonly bytesSent = new Map<string, number>();
  sessionFailures = 0;

  sent(group: string, bytes: number): void {
    this.bytesSent.set(group, (this.bytesSent.get(group) ?? 0) + bytes);
  }
}

export class RcpService {
  readonly name: string;
  readonly stats = new RcpStats();
  readonly tuning: RcpTuning;
  readonly #options: RcpServiceOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #apps = new Map<string, AppFactory>();
  readonly #pool = new FramePool();
  readonly #sweeper: ReturnType<typeof setInterval>;
  #counter = 0;
  #closed = false;

  constructor(options: RcpServiceOptions) {
    if (!isNodeName(options.name)) throw invalidArgument(`node name ${JSON.stringify(options.name)}: use letters, digits, ".", "_" or "-"`);
    if (options.secret.length < 16) throw invalidArgument('the shared secret must be at least 16 characters');
    this.name = options.name;
    this.#options = options;
    this.tuning = { ...DEFAULT_TUNING, ...options.tuning, timers: { ...DEFAULT_TIMERS, ...options.tuning?.timers } };
    this.#sweeper = setInterval(() => this.#sweep(Date.now()), 1000);
    (this.#sweeper as { unref?: () => void }).unref?.();
  }

  /** Registers the application that receives sessions opened for `app`. */
  handle(app: string, factory: AppFactory): void {
    this.#apps.set(app, factory);
  }

  /** Opens a session from this node to every destination of `group` (FIG. 14). */
  openSession(options: { group: string; app: string; meta?: Record<string, unknown> }): OriginSession {
    if (this.#closed) throw new SnapcopyError('ERR_CLOSED', 'the RCP service is stopped');
    checkGroupName(options.group);
    const hops = this.#options.nextHops(options.group);
    if (hops.length === 0) throw new SnapcopyError('ERR_UNKNOWN_GROUP', `node ${this.name} has no route for group ${options.group}`);
    const params: SessionParams = {
      id: `${this.name}-${Date.now().toString(36)}-${(++this.#counter).toString(36)}-${randomHex(4)}`,
      group: options.group,
      origin: this.name,
      app: options.app,
      meta: options.meta ?? {},
      path: [],
      giveUpMs: this.tuning.giveUpMs,
      coverAfterMs: this.tuning.coverAfterMs,
    };
    const session = this.#createSession(params, hops);
    return new OriginSession(session, { windowBytes: this.tuning.windowBytes, pool: this.#pool }, () => this.#forget(session));
  }

  /** Whether `hop` can be a next hop here: this node itself, or a name or address it can dial. */
  canReach(hop: string): boolean {
    return hop === this.name || this.#options.resolve(hop) !== undefined;
  }

  /** Serves one connection whose "RCP/1.0" preamble line has been read. */
  async accept(conn: Conn): Promise<void> {
    const link = new Link(conn, { maxPayload: HANDSHAKE_MAX_PAYLOAD, timers: this.tuning.timers, alloc: (bytes) => this.#pool.alloc(bytes) });
    if (this.#closed) {
      link.fail('ERR_CLOSED', `node ${this.name} is stopping`);
      return;
    }
    try {
      await serverHandshake(link, { name: this.name, secret: this.#options.secret, timeoutMs: this.tuning.handshakeTimeoutMs });
      link.parser.maxPayload = this.tuning.maxPayload;
      const frame = await link.next(this.tuning.handshakeTimeoutMs);
      if (frame.type !== FRAME.OPEN) throw new SnapcopyError('ERR_PROTOCOL', `expected OPEN, got ${frameName(frame.type)}`);
      const open = jsonOf(frame.payload, 'an OPEN frame');
      this.#open(link, parseOpen(open, this.tuning), typeof open.firstHeld === 'number' ? open.firstHeld : 1);
    } catch (error) {
      const e = error as SnapcopyError;
      link.fail(e.code ?? 'ERR_PROTOCOL', e.message);
    }
  }

  /** Dials a next hop, authenticates, and opens or resumes `params` there. */
  async connectHop(target: HopTarget, params: SessionParams, firstHeld = 1): Promise<{ link: Link; have: number }> {
    if (!target.address) throw new SnapcopyError('ERR_NOT_FOUND', `no address is known for node ${target.name} (add one with RCP_config)`);
    const conn = await this.#options.dial(target.address);
    const link = new Link(conn, { maxPayload: HANDSHAKE_MAX_PAYLOAD, timers: this.tuning.timers, peer: target.name });
    try {
      const expectPeer = target.name === target.address ? undefined : target.name;
      await clientHandshake(link, { name: this.name, secret: this.#options.secret, timeoutMs: this.tuning.handshakeTimeoutMs, expectPeer });
      link.parser.maxPayload = this.tuning.maxPayload;
      link.sendJson(FRAME.OPEN, { ...params, path: [...params.path, this.name], firstHeld });
      const frame = await link.next(this.tuning.handshakeTimeoutMs);
      if (frame.type !== FRAME.OPENED) throw new SnapcopyError('ERR_PROTOCOL', `expected OPENED, got ${frameName(frame.type)}`);
      const have = field(jsonOf(frame.payload, 'an OPENED frame'), 'have', 'number', 'OPENED');
      return { link, have };
    } catch (error) {
      const e = error as SnapcopyError;
      link.fail(e.code ?? 'ERR_PROTOCOL', e.message);
      throw error;
    }
  }

  sessions(): SessionInfo[] {
    return [...this.#sessions.values()].map((session) => ({
      id: session.params.id,
      group: session.params.group,
      origin: session.params.origin,
      app: session.params.app,
      upstream: session.upstreamPeer,
      have: session.have,
      end: session.endSeq,
      retainedBytes: session.retention.bytes,
      stats: session.stats,
      hops: [...session.hops.values()].map((hop) => hop.summary()),
      destinations: session.destinations(),
    }));
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sweeper);
    for (const session of this.#sessions.values()) session.close();
    this.#sessions.clear();
  }

  #open(link: Link, params: SessionParams, firstHeld: number): void {
    if (params.path.includes(this.name) || params.origin === this.name) {
      throw new SnapcopyError('ERR_PROTOCOL', `routing loop: session ${params.id} already passed through ${this.name}`);
    }
    const hops = this.#options.nextHops(params.group);
    if (hops.length === 0) throw new SnapcopyError('ERR_UNKNOWN_GROUP', `node ${this.name} has no route for group ${params.group}`);
    let session = this.#sessions.get(params.id);
    if (session && session.params.group !== params.group) throw new SnapcopyError('ERR_PROTOCOL', `session ${params.id} belongs to another group`);
    if (!session && firstHeld > 1) {
      // A node that lost its state (restarted) cannot rejoin a session whose start the sender no longer holds.
      throw new SnapcopyError('ERR_UNKNOWN_SESSION', `node ${this.name} has no state for session ${params.id}, and frames before ${firstHeld} are gone`);
    }
    if (!session) {
      if (this.#sessions.size >= this.tuning.maxSessions) this.#sweep(Infinity);
      if (this.#sessions.size >= this.tuning.maxSessions) {
        throw new SnapcopyError('ERR_INVALID_ARGUMENT', `node ${this.name} already has ${this.tuning.maxSessions} sessions`);
      }
      session = this.#createSession(params, hops);
    }
    session.attachUpstream(link);
  }

  #createSession(params: SessionParams, hops: readonly string[]): Session {
    const env: SessionEnv = {
      name: this.name,
      connectHop: (target, p, firstHeld) => this.connectHop(target, p, firstHeld),
      maxRetentionBytes: this.tuning.maxRetentionBytes,
      pool: this.#pool,
      stats: this.stats,
    };
    const targets: HopTarget[] = [];
    for (const hop of hops) {
      if (hop === this.name) continue;
      targets.push(this.#options.resolve(hop) ?? { name: hop, address: '' });
    }
    const session = new Session(env, params, { targets, local: hops.includes(this.name) ? this.#localApp(params) : undefined });
    this.#sessions.set(params.id, session);
    return session;
  }

  #localApp(params: SessionParams): SessionApp | Error {
    const factory = this.#apps.get(params.app);
    if (!factory) return new Error(`node ${this.name} has no application ${JSON.stringify(params.app)}`);
    try {
      return factory(params);
    } catch (error) {
      return error as Error;
    }
  }

  #forget(session: Session): void {
    session.close();
    if (this.#sessions.get(session.params.id) === session) this.#sessions.delete(session.params.id);
  }

  /** Drops inbound sessions whose upstream left: finished ones after the linger, others after the idle time. */
  #sweep(now: number): void {
    for (const session of [...this.#sessions.values()]) {
      const since = session.detachedSince;
      if (since === undefined) continue;
      if (now - since >= (session.done ? this.tuning.lingerMs : this.tuning.idleMs)) this.#forget(session);
    }
  }
}

function parseOpen(object: Record<string, unknown>, tuning: RcpTuning): SessionParams {
  const path = object.path;
  if (!Array.isArray(path) || path.length > 64 || !path.every((node) => typeof node === 'string')) {
    throw new SnapcopyError('ERR_PROTOCOL', 'OPEN: path must be a list of node names');
  }
  const id = field(object, 'id', 'string', 'OPEN');
  if (id.length === 0 || id.length > 200) throw new SnapcopyError('ERR_PROTOCOL', 'OPEN: bad session id');
  const group = field(object, 'group', 'string', 'OPEN');
  try {
    checkGroupName(group);
  } catch (error) {
    throw new SnapcopyError('ERR_PROTOCOL', `OPEN: ${(error as Error).message}`);
  }
  const bounded = (name: string, fallback: number) => {
    const value = object[name] === undefined ? fallback : field(object, name, 'number', 'OPEN');
    return Math.max(10, Math.min(value, 24 * 3600_000));
  };
  return {
    id,
    group,
    origin: field(object, 'origin', 'string', 'OPEN'),
    app: field(object, 'app', 'string', 'OPEN'),
    meta: field(object, 'meta', 'object', 'OPEN'),
    path: path as string[],
    giveUpMs: bounded('giveUpMs', tuning.giveUpMs),
    coverAfterMs: bounded('coverAfterMs', tuning.coverAfterMs),
  };
}
