import { resolveNode } from '../node/client.js';
import { pull as pullVersion, type PullOutcome, type PullSource, parseSource } from '../distribution/pull.js';
import { LocalStore } from '../volume/store.js';
import { Progress } from './io.js';
import { type Command, type CommandContext, expectPositionals, flag, option, positional, UsageErrorForCommand } from './command.js';

function tminOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(text)) throw new UsageErrorForCommand(`--tmin takes a number of seconds, not ${JSON.stringify(text)}`);
  return Number(text);
}

/** The source: a node's volume (its token derived from the peers file unless --token gives one), or a URL. */
async function sourceOf(ctx: CommandContext, text: string): Promise<PullSource> {
  const parsed = parseSource(text);
  const token = option(ctx, 'token') ?? undefined;
  if (parsed.kind === 'url') return { kind: 'url', url: parsed.url, token };
  const node = await resolveNode(parsed.node, { peersPath: ctx.peersPath, token });
  return { kind: 'node', label: node.label, address: node.address, volume: parsed.volume, token: node.token };
}

function describe(o: PullOutcome, source: string): string {
  const short = (image: string | null) => (image ? image.slice(0, 8) : 'nothing');
  switch (o.result) {
    case 'skipped': return `${o.volume}: not asking ${source} yet (--tmin; last update less than that ago, next in ${o.next} s); holds ${short(o.to)}`;
    case 'up-to-date': return `${o.volume} is up to date with ${source} (${short(o.to)})`;
    case 'delta': return `${o.volume}: delta ${short(o.from)} -> ${short(o.to)} from ${source}, ${o.bytes} bytes in ${o.seconds} s`;
    default: return `${o.volume}: full copy of ${short(o.to)} from ${source}${o.from ? ` (replacing ${short(o.from)}, which the source does not hold)` : ''}, ${o.bytes} bytes in ${o.seconds} s`;
  }
}

export const pull: Command = {
  name: 'pull',
  summary: 'bring a local volume to a version of a node\'s volume or of a published directory (a delta when it can, else a full copy)',
  usage: 'pull <fs> <node>:<remote-fs>|<url> [--version <ckpt|image>] [--tmin <seconds>] [--token <t>] [--json]',
  options: { version: 'string', tmin: 'string', json: 'boolean' },
  async run(ctx) {
    const fs = positional(ctx, 0, '<fs>');
    const text = positional(ctx, 1, '<node>:<remote-fs> or <url>');
    expectPositionals(ctx, 2);
    if (ctx.nodeGiven) throw new UsageErrorForCommand('pull works on the local data directory; name the node in the source (<node>:<remote-fs>), not with --node');
    const tmin = tminOption(option(ctx, 'tmin'));
    const source = await sourceOf(ctx, text);
    const store = await ctx.store();
    if (!(store instanceof LocalStore)) throw new UsageErrorForCommand('pull works on a local data directory');
    // The download's bar on a terminal (a resume that starts over counts from nothing again).
    const progress = new Progress('pull', undefined);
    let seen = 0;
    const onBytes = (have: number, total: number | undefined) => {
      if (total !== undefined) progress.total = total;
      if (have > seen) progress.add(have - seen);
      seen = have;
    };
    let outcome: PullOutcome;
    try {
      outcome = await pullVersion(store.dir, fs, source, { version: option(ctx, 'version'), tmin, onBytes });
    } finally {
      progress.finish(false);
    }
    if (flag(ctx, 'json')) {
      const { result, from, to, bytes, seconds } = outcome;
      await ctx.print(JSON.stringify({ result, from, to, bytes, seconds, ...(outcome.next !== undefined ? { next: outcome.next } : {}) }));
    } else await ctx.print(describe(outcome, text));
  },
};
