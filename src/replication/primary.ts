// The primary side of a replication, as a pure state machine: step(state, event)
// returns the next state and the effects to perform (FIG. 10–12). Time and every I/O
// result come in as events; the runner (sender.ts) performs the effects and persists
// the state before acting on it, so a crash between any two effects is resumed from
// the last persisted state.
//
// A delta set n is a checkpoint of the primary, `rep-<n>`. What a set holds is the
// delta from the previous cut; what is sent is one delta from the newest cut every
// destination has played (the base) to the newest cut, over one session to the group:
// a delta across an interval covers every part of it, so a destination anywhere in
// between can play it, and pending sets collapse into one differential instead of
// blocking or dropping writes. Cuts between the base and the newest are deleted (their
// bit maps merge into older ones); their records stay for status.

import type { ReplicationOptions } from './options.js';

export interface DeltaSetRecord {
  n: number;
  /** The image id of the cut (destinations that played it hold this image). */
  image: string;
  /** When the cut was made (ms since the epoch). */
  created: number;
  /** Blocks and bytes in the set (the delta from the previous cut). */
  blocks: number;
  bytes: number;
  /** How long the cut took (ms). */
  cutMs?: number;
  /** Where it was played: node → when, how long the send and playback took, blocks sent. */
  played?: Record<string, { at: number; ms: number; blocks: number }>;
}

export interface DestinationRecord {
  sfs: string;
  /** The newest set this destination has played, or null before its first copy. */
  played: number | null;
  playedAt?: number;
  lastSuccess?: { at: number; bytes: number; seconds: number };
  error?: { code: string; message: string; at: number };
  /** Failed sends in a row (reset by a success). */
  failures: number;
}

export type Phase = 'idle' | 'cutting' | 'sending' | 'stalled' | 'error';

export interface PrimaryState {
  pfs: string;
  group: string;
  options: ReplicationOptions;
  /** The number the next cut gets. */
  nextSet: number;
  /** When the last cut was made, or replication started (ms). */
  lastCutAt: number;
  /** Cuts still kept as checkpoints, oldest first (the base and the newest). */
  cuts: number[];
  /** Records of recent sets, oldest first (at least every set from the base on). */
  sets: DeltaSetRecord[];
  destinations: Record<string, DestinationRecord>;
  sending: { id: number; from: number | null; to: number; targets: string[]; startedAt: number; progressAt: number; bytes: number } | null;
  /** Sends started so far: each send's id, so the result of one the watchdog gave up on is ignored. */
  sends: number;
  cutting: boolean;
  /** Refresh requests waiting for every destination to play set `set` (null: the next cut). */
  waiters: { id: string; set: number | null }[];
  /** Earliest time the next send may be tried after a failure (ms). */
  retryAt: number;
  /** Set when a failover stopped this primary's sending (its cuts are kept for a resync). */
  halted?: boolean;
  /** Set when a destination said it was failed over: this primary must take no more writes. */
  fenced?: { node: string; at: number; message: string };
}

export type PrimaryEvent =
  | { type: 'tick'; now: number; modifiedBytes: number }
  | { type: 'refresh'; now: number; id: string; modifiedBytes: number }
  | { type: 'cut-done'; now: number; n: number; image: string; blocks: number; bytes: number; ms?: number }
  | { type: 'cut-failed'; now: number; code: string; message: string }
  | { type: 'progress'; now: number; id: number; bytes: number }
  | {
    type: 'sent'; now: number; id: number; to: number; bytes: number; seconds: number;
    /** Data blocks the stream carried. */
    blocks?: number;
    results: Record<string, { ok: boolean; code?: string; message?: string }>;
  }
  | { type: 'send-failed'; now: number; id: number; code: string; message: string }
  | { type: 'modify'; options: ReplicationOptions }
  | { type: 'remove-destination'; node: string };

export type PrimaryEffect =
  | { type: 'cut'; n: number }
  | { type: 'abort-send'; id: number }
  | {
    type: 'send'; id: number; from: number | null; to: number;
    /** Every destination (node → volume); only `targets` play this set, the others pass it by. */
    destinations: Record<string, string>; targets: string[];
    /** Images of the sets between the two ends: a destination holding one of them can play the delta. */
    between: string[]; fromImage: string | null; toImage: string;
  }
  | { type: 'delete-cut'; n: number }
  | { type: 'resolve'; id: string }
  | { type: 'reject'; id: string; code: string; message: string }
  /**
   * A destination was failed over (its node said so): the primary is made read-only and
   * stops sending, keeping its cuts for the resync (DRBD's fencing), so both sides are
   * not read-write for longer than it takes this primary to try its next set. Refreshes
   * waiting are refused with ERR_FAILED_OVER once it is read-only.
   */
  | { type: 'fence'; node: string; message: string };

export interface StepResult {
  state: PrimaryState;
  effects: PrimaryEffect[];
}

/** Sends that failed this many times in a row are reported as an error (FIG. 12 step 368). */
export const RETRIES = 5;
/** How long to wait before trying a failed send again. */
export const RETRY_MS = 1000;
/** Retries back off, doubling from RETRY_MS up to this, so a destination that is away costs little. */
export const MAX_RETRY_MS = 30_000;

/** When to try again after `failures` failures in a row. */
function retryAfter(now: number, failures: number): number {
  return now + Math.min(MAX_RETRY_MS, RETRY_MS * 2 ** Math.max(0, failures - 1));
}

const mostFailures = (destinations: Record<string, DestinationRecord>) => Math.max(0, ...Object.values(destinations).map((d) => d.failures));
/** A send that moves no byte for this long is stalled: the watchdog gives it up (default; -option watchdog=<s>). */
export const STALL_MS = 30_000;
const stallMs = (state: PrimaryState) => (state.options.watchdog > 0 ? state.options.watchdog * 1000 : STALL_MS);
/** Records kept below the base, for status. */
const HISTORY = 32;

export function initialState(pfs: string, group: string, options: ReplicationOptions, destinations: Record<string, string>, now: number): PrimaryState {
  const records: Record<string, DestinationRecord> = {};
  for (const [node, sfs] of Object.entries(destinations)) records[node] = { sfs, played: null, failures: 0 };
  return {
    pfs, group, options, nextSet: 0, lastCutAt: now, cuts: [], sets: [], destinations: records,
    sending: null, sends: 0, cutting: false, waiters: [], retryAt: 0,
  };
}

/**
 * The newest cut every destination with a copy has played: the base of the next delta
 * (null while none has a copy). Destinations still waiting for their first copy get a
 * full one, and do not hold the base back.
 */
export function baseOf(state: PrimaryState): number | null {
  const played = Object.values(state.destinations).map((d) => d.played).filter((p): p is number => p !== null);
  return played.length === 0 ? null : Math.min(...played);
}

export const newestOf = (state: PrimaryState): number | null => state.cuts.length ? state.cuts[state.cuts.length - 1]! : null;

export function phaseOf(state: PrimaryState, now: number): Phase {
  if (state.cutting) return 'cutting';
  if (state.sending) return now - state.sending.progressAt >= stallMs(state) ? 'stalled' : 'sending';
  if (Object.values(state.destinations).some((d) => d.failures >= RETRIES)) return 'error';
  return 'idle';
}

export function step(state: PrimaryState, event: PrimaryEvent): StepResult {
  // A fenced primary cuts and sends nothing more; a refresh is refused with the reason.
  if (state.fenced && event.type === 'tick') return { state, effects: [] };
  if (state.fenced && event.type === 'refresh') {
    return { state, effects: [{ type: 'reject', id: event.id, code: 'ERR_FAILED_OVER', message: state.fenced.message }] };
  }
  switch (event.type) {
    case 'tick': {
      const watched = watchdog(state, event.now);
      const scheduled = schedule(watched.state, event.now, event.modifiedBytes, false);
      return { state: scheduled.state, effects: [...watched.effects, ...scheduled.effects] };
    }
    case 'refresh': {
      // An operator asked: a send waiting out its back-off is tried at once.
      const waiting = { ...state, retryAt: 0, waiters: [...state.waiters, { id: event.id, set: null }] };
      return schedule(waiting, event.now, event.modifiedBytes, true);
    }
    case 'cut-done': return cutDone(state, event);
    case 'cut-failed': {
      const effects = state.waiters.map((w): PrimaryEffect => ({ type: 'reject', id: w.id, code: event.code, message: event.message }));
      return { state: { ...state, cutting: false, waiters: [], retryAt: event.now + RETRY_MS }, effects };
    }
    case 'progress':
      if (state.sending?.id !== event.id) return { state, effects: [] };
      return { state: { ...state, sending: { ...state.sending, progressAt: event.now, bytes: event.bytes } }, effects: [] };
    // The outcome of a send the watchdog already gave up on changes nothing.
    case 'sent': return state.sending?.id === event.id ? sent(state, event) : { state, effects: [] };
    case 'send-failed':
      return state.sending?.id === event.id ? sendFailed(state, event.now, event.code, event.message) : { state, effects: [] };
    case 'modify': return { state: { ...state, options: event.options }, effects: [] };
    case 'remove-destination': {
      const { [event.node]: _gone, ...rest } = state.destinations;
      return prune({ ...state, destinations: rest });
    }
  }
}

/** Gives up a send that moved nothing for the watchdog's time: reported as ERR_TIMEOUT, tried again. */
function watchdog(state: PrimaryState, now: number): StepResult {
  const sending = state.sending;
  if (!sending || now - sending.progressAt < stallMs(state)) return { state, effects: [] };
  const seconds = Math.round((now - sending.progressAt) / 1000);
  const failed = sendFailed(state, now, 'ERR_TIMEOUT', `delta set ${sending.to} made no progress for ${seconds} s: given up, to be sent again`);
  return { state: failed.state, effects: [{ type: 'abort-send', id: sending.id }, ...failed.effects] };
}

/** Cuts when due (or asked), else sends when a destination is behind and nothing is in flight. */
function schedule(state: PrimaryState, now: number, modifiedBytes: number, refreshed: boolean): StepResult {
  if (state.cutting || state.sending) return { state, effects: [] };
  // A refresh that came while a set was in flight still wants its cut.
  const asked = refreshed || state.waiters.some((w) => w.set === null);
  const newest = newestOf(state);
  const timedOut = now - state.lastCutAt >= state.options.to * 1000;
  const overHwm = state.options.hwm > 0 && modifiedBytes >= state.options.hwm * 1e6;
  // The first cut is the new remote copy (FIG. 11); later ones only when something changed.
  const due = newest === null || (modifiedBytes > 0 && (asked || timedOut || overHwm));
  if (due) return { state: { ...state, cutting: true }, effects: [{ type: 'cut', n: state.nextSet }] };
  // Nothing to cut: a refresh waits for the newest set as it is.
  let next = asked ? { ...state, waiters: state.waiters.map((w) => (w.set === null ? { ...w, set: newest } : w)) } : state;
  if (timedOut && modifiedBytes === 0) next = { ...next, lastCutAt: now }; // nothing to cut: re-arm
  const sendable = maybeSend(next, now);
  const settled = asked ? settleWaiters(sendable.state) : { state: sendable.state, effects: [] };
  return { state: settled.state, effects: [...sendable.effects, ...settled.effects] };
}

function cutDone(state: PrimaryState, event: Extract<PrimaryEvent, { type: 'cut-done' }>): StepResult {
  const record: DeltaSetRecord = {
    n: event.n, image: event.image, created: event.now, blocks: event.blocks, bytes: event.bytes, cutMs: event.ms ?? 0, played: {},
  };
  const next: PrimaryState = {
    ...state,
    cutting: false,
    nextSet: event.n + 1,
    lastCutAt: event.now,
    cuts: [...state.cuts, event.n],
    sets: [...state.sets, record],
    waiters: state.waiters.map((w) => (w.set === null ? { ...w, set: event.n } : w)),
  };
  const pruned = prune(next);
  const sendable = maybeSend(pruned.state, event.now);
  return { state: sendable.state, effects: [...pruned.effects, ...sendable.effects] };
}

/**
 * Starts a send of delta(base, newest) when a destination is behind. Destinations
 * without a copy get a full copy first (a new remote copy while the others run on:
 * they pass that session by).
 */
function maybeSend(state: PrimaryState, now: number): StepResult {
  const newest = newestOf(state);
  if (newest === null || state.sending || state.cutting || now < state.retryAt) return { state, effects: [] };
  const entries = Object.entries(state.destinations);
  const behind = entries.filter(([, d]) => d.played === null || d.played < newest).map(([node]) => node);
  if (behind.length === 0) return { state, effects: [] };
  const fresh = entries.filter(([, d]) => d.played === null).map(([node]) => node);
  const from = fresh.length > 0 ? null : baseOf(state);
  const targets = fresh.length > 0 ? fresh : behind;
  const imageOf = (n: number) => state.sets.find((s) => s.n === n)?.image;
  const between = state.sets.filter((s) => from !== null && s.n > from && s.n < newest).map((s) => s.image);
  const destinations: Record<string, string> = {};
  for (const [node, d] of Object.entries(state.destinations)) destinations[node] = d.sfs;
  return {
    state: { ...state, sends: state.sends + 1, sending: { id: state.sends, from, to: newest, targets, startedAt: now, progressAt: now, bytes: 0 } },
    effects: [{
      type: 'send', id: state.sends, from, to: newest, destinations, targets, between,
      fromImage: from === null ? null : imageOf(from) ?? null, toImage: imageOf(newest)!,
    }],
  };
}

function sent(state: PrimaryState, event: Extract<PrimaryEvent, { type: 'sent' }>): StepResult {
  const destinations: Record<string, DestinationRecord> = {};
  const targets = state.sending?.targets ?? [];
  for (const [node, d] of Object.entries(state.destinations)) {
    const result = event.results[node];
    if (!targets.includes(node)) {
      destinations[node] = d; // passed this set by
    } else if (result?.ok) {
      destinations[node] = {
        ...d, played: event.to, playedAt: event.now, failures: 0, error: undefined,
        lastSuccess: { at: event.now, bytes: event.bytes, seconds: event.seconds },
      };
    } else {
      const code = result?.code ?? 'ERR_UNREACHABLE';
      const message = result?.message ?? 'the destination did not acknowledge the delta set';
      destinations[node] = { ...d, failures: d.failures + 1, error: { code, message, at: event.now } };
    }
  }
  const anyFailed = Object.values(destinations).some((d) => d.failures > 0);
  const playedBy = targets.filter((node) => event.results[node]?.ok);
  const sets = state.sets.map((set) => {
    if (set.n !== event.to || playedBy.length === 0) return set;
    const played = { ...set.played };
    for (const node of playedBy) played[node] = { at: event.now, ms: event.seconds * 1000, blocks: event.blocks ?? 0 };
    return { ...set, played };
  });
  const next: PrimaryState = {
    ...state, destinations, sets, sending: null, retryAt: anyFailed ? retryAfter(event.now, mostFailures(destinations)) : 0,
  };
  const failedOver = targets.find((node) => event.results[node]?.code === 'ERR_FAILED_OVER');
  if (failedOver !== undefined) {
    const message = event.results[failedOver]!.message ?? `${failedOver} was failed over`;
    // Refresh waiters are answered by the fence, once the primary is read-only.
    return { state: { ...next, waiters: [], fenced: { node: failedOver, at: event.now, message } }, effects: [{ type: 'fence', node: failedOver, message }] };
  }
  const pruned = prune(next);
  const settled = settleWaiters(pruned.state);
  const again = maybeSend(settled.state, event.now);
  return { state: again.state, effects: [...pruned.effects, ...settled.effects, ...again.effects] };
}

function sendFailed(state: PrimaryState, now: number, code: string, message: string): StepResult {
  const destinations: Record<string, DestinationRecord> = {};
  const targets = state.sending?.targets ?? Object.keys(state.destinations);
  for (const [node, d] of Object.entries(state.destinations)) {
    destinations[node] = targets.includes(node) ? { ...d, failures: d.failures + 1, error: { code, message, at: now } } : d;
  }
  return settleWaiters({ ...state, destinations, sending: null, retryAt: retryAfter(now, mostFailures(destinations)) });
}

/** Deletes cuts no destination needs (older than the base, and between it and the newest); trims records. */
function prune(state: PrimaryState): StepResult {
  const base = baseOf(state);
  const newest = newestOf(state);
  // A cut some destination stands on is kept, not only the base: when the destinations
  // ahead of it catch up elsewhere, it becomes the base (delta from it to the newest).
  const standing = new Set(Object.values(state.destinations).map((d) => d.played));
  const keep = (n: number) => n === newest || n === base || standing.has(n)
    || (state.sending !== null && (n === state.sending.from || n === state.sending.to));
  const effects: PrimaryEffect[] = state.cuts.filter((n) => !keep(n)).map((n) => ({ type: 'delete-cut', n }));
  const cuts = state.cuts.filter(keep);
  const oldestKept = Math.min(...cuts, base ?? Infinity);
  const below = state.sets.filter((s) => s.n < oldestKept);
  const sets = [...below.slice(-HISTORY), ...state.sets.filter((s) => s.n >= oldestKept)];
  return { state: { ...state, cuts, sets }, effects };
}

/** Resolves refreshes whose set every destination has played; rejects them when a destination is in error. */
function settleWaiters(state: PrimaryState): StepResult {
  const effects: PrimaryEffect[] = [];
  const waiters = state.waiters.filter((w) => {
    const all = Object.values(state.destinations);
    if (w.set !== null && all.every((d) => d.played !== null && d.played >= w.set!)) {
      effects.push({ type: 'resolve', id: w.id });
      return false;
    }
    const broken = Object.entries(state.destinations).find(([, d]) => d.failures >= RETRIES);
    if (broken) {
      const [node, d] = broken;
      effects.push({ type: 'reject', id: w.id, code: d.error?.code ?? 'ERR_UNREACHABLE', message: `${node}: ${d.error?.message ?? 'failed'}` });
      return false;
    }
    return true;
  });
  return { state: { ...state, waiters }, effects };
}
