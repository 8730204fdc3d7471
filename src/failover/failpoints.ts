// Failpoints (as etcd's gofail): named places in the recovery procedures where a test can
// have the process kill itself, exactly as kill -9 would (nothing flushed, no handler
// run), to check that re-issuing the same command finishes what was cut short.
//
//   SNAPCOPY_FAILPOINT=<name>      SIGKILL at the first hit of <name>
//   SNAPCOPY_FAILPOINT=<name>#<n>  ... at its n-th hit (1-based) in this process
//   SNAPCOPY_FAILPOINT_FILE=<file> the same spec (<name> or <name>#<n>), read from <file>
//                                  at every hit (missing or empty: nothing armed); n counts
//                                  the hits since <file> took that content. A test arms a
//                                  running node this way, as gofail does at runtime, instead
//                                  of restarting it with SNAPCOPY_FAILPOINT (that restart per
//                                  kill point was a third of test/failover/crash.test.ts)
//   SNAPCOPY_FAILPOINTS_LOG=<file> every hit appended to <file>, one name a line (so a
//                                  test learns which points an uninterrupted run passes)
//
// The environment is read once, at load; with none of these set, a call costs one
// comparison. A spec that names no failpoint is said once on stderr and ignored.

import { appendFileSync, readFileSync } from 'node:fs';
import process from 'node:process';
import type { FailoverPhase } from './failover.js';
import type { ResyncPhase } from './resync.js';
import type { FailbackPhase } from './failback.js';

type Steps<P extends string, Prefix extends string> = `${Prefix}.${P}.saved` | `${Prefix}.${P}.performed` | `${Prefix}.done.saved`;

const FAILOVER_PHASES: readonly Exclude<FailoverPhase, 'done' | 'failed'>[] = [
  'catch-up', 'demote', 'last-set', 'halt', 'playback', 'restart-point', 'promote',
];
const RESYNC: readonly ResyncPhase[] = ['keep-diverged', 'raw', 'undo', 'copy-1', 'copy-2', 'reverse'];
const FAILBACK: readonly FailbackPhase[] = ['catch-up', 'source-ro', 'last-set', 'halt', 'turn', 'primary-rw'];

/** In the node-to-node handlers a procedure calls (src/replication/service.ts), and between their durable writes. */
const HANDLERS = [
  'demote.start', 'demote.end',
  'halt.start', 'halt.end',
  'refresh.start', 'refresh.end',
  'promote.recorded',
  'keep-diverged.start', 'keep-diverged.end',
  'undo.start', 'undo.restored', 'undo.end',
  'adopt.start', 'adopt.recorded', 'adopt.end',
  'reverse.sending', 'reverse.end',
  'take-over.start', 'take-over.recorded', 'take-over.end',
] as const;

/**
 * Each phase of a procedure's runner has two points: its state saved but its effect not
 * yet run (`.saved`), and its effect run but the next state not yet saved (`.performed`).
 */
function stepsOf<P extends string, Prefix extends string>(prefix: Prefix, phases: readonly P[]): Steps<P, Prefix>[] {
  return [
    ...phases.flatMap((p) => [`${prefix}.${p}.saved`, `${prefix}.${p}.performed`] as Steps<P, Prefix>[]),
    `${prefix}.done.saved` as Steps<P, Prefix>,
  ];
}

export const FAILPOINTS = [
  ...stepsOf('failover', FAILOVER_PHASES),
  ...stepsOf('resync', RESYNC),
  ...stepsOf('failback', FAILBACK),
  ...HANDLERS,
] as const;

export type FailpointName =
  | Steps<Exclude<FailoverPhase, 'done' | 'failed'>, 'failover'>
  | Steps<ResyncPhase, 'resync'>
  | Steps<FailbackPhase, 'failback'>
  | typeof HANDLERS[number];

interface Armed {
  name: string;
  /** The hit that kills (1-based). */
  at: number;
}

/** `source` names where the spec came from, for the message: `SNAPCOPY_FAILPOINT=<spec>`, say. */
function armedFrom(spec: string | undefined, source = `SNAPCOPY_FAILPOINT=${spec}`): Armed | undefined {
  if (!spec) return undefined;
  const match = /^([^#]+)(?:#(\d+))?$/.exec(spec);
  const name = match?.[1] ?? spec;
  const at = match?.[2] === undefined ? 1 : Number(match[2]);
  if (!match || at < 1 || !(FAILPOINTS as readonly string[]).includes(name)) {
    // A misspelt point would never fire and a crash test would pass without crashing: say so.
    process.stderr.write(`snapcopy: ${source} names no failpoint (<name> or <name>#<n>, n >= 1; names in src/failover/failpoints.ts); ignored [ERR_INVALID_ARGUMENT]\n`);
    return undefined;
  }
  return { name, at };
}

const armed = armedFrom(process.env.SNAPCOPY_FAILPOINT);
const armFile = process.env.SNAPCOPY_FAILPOINT_FILE || undefined;
const logFile = process.env.SNAPCOPY_FAILPOINTS_LOG || undefined;
const active = armed !== undefined || armFile !== undefined || logFile !== undefined;
const hits = new Map<string, number>();

/** The arm file's spec: its (trimmed) content last read, what that arms, and the hits of that name since. */
const fromFile: { content: string; armed: Armed | undefined; hits: number } = { content: '', armed: undefined, hits: 0 };
/** Each content the file has held, parsed once (so a bad one is said once). */
const parsed = new Map<string, Armed | undefined>();

/** Reads the arm file; a content other than the last one read arms afresh (its count from 0). */
function readArmFile(file: string): void {
  let content = '';
  try {
    content = readFileSync(file, 'utf8').trim();
  } catch {
    // Missing (or unreadable): nothing armed.
  }
  if (content === fromFile.content) return;
  if (!parsed.has(content)) parsed.set(content, armedFrom(content, `SNAPCOPY_FAILPOINT_FILE=${file} holds ${JSON.stringify(content)}, which`));
  fromFile.content = content;
  fromFile.armed = parsed.get(content);
  fromFile.hits = 0;
}

/** A place where a test may kill this process (see above); nothing at all otherwise. */
export function failpoint(name: FailpointName): void {
  if (!active) return;
  const hit = (hits.get(name) ?? 0) + 1;
  hits.set(name, hit);
  if (logFile) appendFileSync(logFile, `${name}\n`);
  if (armed && armed.name === name && armed.at === hit) process.kill(process.pid, 'SIGKILL');
  if (armFile) {
    readArmFile(armFile);
    if (fromFile.armed?.name === name && ++fromFile.hits === fromFile.armed.at) process.kill(process.pid, 'SIGKILL');
  }
}
