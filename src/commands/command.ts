// What every command file exports, and what the dispatcher hands it.

import type { NodeTarget } from '../node/client.js';
import type { VolumeStore } from '../volume/store.js';
import type { OptionKind, ParsedArgs } from './args.js';

export interface CommandContext {
  args: ParsedArgs;
  /**
   * The volumes (opened once): the node's with --node, else those of the data
   * directory named by --data, SNAPCOPY_DATA or ./snapcopy-data.
   */
  store(): Promise<VolumeStore>;
  /** Whether --node (or SNAPCOPY_NODE) was given. */
  nodeGiven: boolean;
  /** The data directory's path, for commands that do not open it as volumes. */
  dataPath: string;
  /** The peers file named by --peers or SNAPCOPY_PEERS, if any. */
  peersPath: string | undefined;
  /**
   * The node named by --node or SNAPCOPY_NODE (or `fallback`), with its token; a usage
   * error when there is none.
   */
  node(fallback?: string): Promise<NodeTarget>;
  /** Writes a line to standard output. */
  print(line: string): Promise<void>;
  /** Writes a line to standard error (progress, events). */
  log(line: string): void;
}

export interface Command {
  name: string;
  summary: string;
  /** The usage lines after "snapcopy". */
  usage: string;
  options: Record<string, OptionKind>;
  run(ctx: CommandContext): Promise<void>;
}

/** Positional i, or a usage error naming what is missing. */
export function positional(ctx: CommandContext, index: number, what: string): string {
  const value = ctx.args.positionals[index];
  if (value === undefined) throw new UsageErrorForCommand(`missing ${what}`);
  return value;
}

export function option(ctx: CommandContext, name: string): string | undefined {
  const value = ctx.args.options.get(name);
  return value === true ? undefined : value;
}

export function flag(ctx: CommandContext, name: string): boolean {
  return ctx.args.options.get(name) === true;
}

export function expectPositionals(ctx: CommandContext, max: number): void {
  if (ctx.args.positionals.length > max) {
    throw new UsageErrorForCommand(`unexpected argument ${JSON.stringify(ctx.args.positionals[max])}`);
  }
}

export class UsageErrorForCommand extends Error {
  override name = 'UsageError';
}

/** The seed's key=value words ("group=g1"): the value of `key`, or undefined. */
export function keyword(ctx: CommandContext, key: string): string | undefined {
  const prefix = `${key}=`;
  const found = ctx.args.positionals.filter((p) => p.startsWith(prefix));
  if (found.length > 1) throw new UsageErrorForCommand(`${key}= given twice`);
  return found[0]?.slice(prefix.length);
}

/** "fs" or "fs@ckpt". */
export function volumeAndCheckpoint(spec: string): { volume: string; checkpoint?: string } {
  const at = spec.indexOf('@');
  return at < 0 ? { volume: spec } : { volume: spec.slice(0, at), checkpoint: spec.slice(at + 1) };
}
