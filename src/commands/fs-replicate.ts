import { callNode } from '../node/client.js';
import { parseOptions } from '../replication/options.js';
import { type Command, type CommandContext, flag, option, UsageErrorForCommand } from './command.js';
import { formatBytes } from './io.js';

const ACTIONS = ['-start', '-refresh', '-stop', '-modify', '-list', '-info', '-status', '-failover', '-resync', '-failback'] as const;
type Action = typeof ACTIONS[number];

/** `<sfs>:cel=<node>`. */
function destination(spec: string): { sfs: string; node: string } {
  const match = /^([^:]+):cel=(.+)$/.exec(spec);
  if (!match) throw new UsageErrorForCommand(`${JSON.stringify(spec)} is not <sfs>:cel=<node>`);
  return { sfs: match[1]!, node: match[2]! };
}

function words(ctx: CommandContext, min: number, max: number, what: string): string[] {
  const p = ctx.args.positionals;
  if (p.length < min || p.length > max) throw new UsageErrorForCommand(`expected ${what}`);
  return p;
}

function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

interface PrimaryInfo {
  type: 'replication'; name: string; group: string; state: string; currentDeltaSet: number | null;
  generation?: string | null; partners?: Partner[];
  pendingSets: number; pendingBytes: number; pendingBlocks: number;
  currentBlockNumber: number; currentTransferRate: number; avgTransferRate: number;
  destinations: { node: string; sfs: string; currentDeltaSet: number | null; lagSeconds: number | null; state: string;
    lastSuccess: { at: number; bytes: number; seconds: number } | null; lastError: { code: string; message: string } | null }[];
  sets: { n: number; created: number; cutMs: number; blocks: number; bytes: number; played: Record<string, { at: number; ms: number; blocks: number }> }[];
}

interface ReplicaInfo {
  type: 'playback'; name: string; source: string; currentDeltaSet: number | null; playedAt: number | null; generation?: string | null;
  lagSeconds: number | null; lastError: { code: string; message: string } | null;
  promoted?: { at: number; restartPoint: string } | null; partner?: Partner | null;
}

interface ResyncSides {
  splitBrain: boolean; follower: string;
  wrote: { source: number | null; follower: number | null };
  generations: { source: string | null; follower: string | null };
}

/** Resync's first line: whether it found a split brain, and the side it makes follow. */
function sidesLine(sides: ResyncSides, source: string): string {
  const generations = `generations ${sides.generations.follower ?? '-'} and ${sides.generations.source ?? '-'}`;
  if (!sides.splitBrain) return `${sides.follower} follows ${source} (${generations}; ${source} took ${blocksText(sides.wrote.source)} blocks since the restart point)`;
  return `split brain: ${sides.follower} took ${blocksText(sides.wrote.follower)} blocks and ${source} took ${blocksText(sides.wrote.source)} blocks since they parted `
    + `(${generations}); resync makes ${sides.follower} follow ${source}`;
}

interface StatusReport {
  differingBlocks: number; common: string | null; primaryDeltaSet: number | null; replicaDeltaSet: number | null;
  generations: { local: string | null; remote: string | null };
  divergence: { splitBrain: boolean; wrote: { local: number | null; remote: number | null }; relation: { kind: string; side?: string } } | null;
}

function statusLines(status: StatusReport, here: string, there: string): string[] {
  const lines = [`${status.differingBlocks} blocks differ between ${here} and ${there}${status.common ? '' : ' (they hold no image in common)'}`];
  if (status.primaryDeltaSet !== null || status.replicaDeltaSet !== null) {
    lines.push(`delta set: primary ${status.primaryDeltaSet ?? '-'}, replica ${status.replicaDeltaSet ?? '-'}`);
  }
  lines.push(`generation: ${here} ${status.generations.local ?? '-'}, ${there} ${status.generations.remote ?? '-'}`);
  const d = status.divergence;
  if (d && d.relation.kind !== 'same') {
    const wrote = `${here} ${blocksText(d.wrote.local)} blocks, ${there} ${blocksText(d.wrote.remote)} blocks since they parted`;
    lines.push(d.splitBrain ? `split brain: both took writes (${wrote})` : `no split brain (${wrote})`);
  }
  return lines;
}

/** The other side of a volume that was failed over, as -info reports it. */
interface Partner {
  name: string; generation: string | null; splitBrain: boolean | null;
  wrote: { local: number | null; remote: number | null } | null; differingBlocks: number | null; error?: string;
}

const blocksText = (n: number | null | undefined) => (n === null || n === undefined ? 'an unknown number of' : String(n));

/** One line on whether a volume and its partner both took writes since they parted. */
function splitBrainLine(partner: Partner): string {
  if (partner.splitBrain === null) return `split_brain with ${partner.name} = unknown (${partner.error ?? 'cannot tell'})`;
  const wrote = partner.wrote;
  const counts = wrote ? ` (here ${blocksText(wrote.local)} blocks, ${partner.name} ${blocksText(wrote.remote)} blocks since they parted)` : '';
  return `split_brain with ${partner.name} = ${partner.splitBrain ? 'yes: both took writes' : 'no'}${counts}`;
}

/** The seed's -info layout, plus state, lag, last success and errors. */
function infoLines(info: PrimaryInfo | ReplicaInfo): string[] {
  if (info.type === 'playback') {
    return [
      `name = ${info.name}`, 'type = playback', `source = ${info.source}`, `generation = ${info.generation ?? '-'}`,
      `current_delta_set = ${info.currentDeltaSet ?? '-'}`, `last_playback = ${time(info.playedAt)}`,
      `lag = ${info.lagSeconds === null ? '-' : `${info.lagSeconds.toFixed(1)} s`}`,
      ...(info.promoted ? [`failed_over = ${time(info.promoted.at)}, restart point ${info.promoted.restartPoint}`] : []),
      ...(info.partner ? [splitBrainLine(info.partner)] : []),
      ...(info.lastError ? [`last_error = ${info.lastError.message} [${info.lastError.code}]`] : []),
    ];
  }
  const lines = [
    `name = ${info.name}`, 'type = replication', `group = ${info.group}`, `state = ${info.state}`, `generation = ${info.generation ?? '-'}`,
    ...(info.partners ?? []).map(splitBrainLine),
    `current_delta_set = ${info.currentDeltaSet ?? '-'}`,
    `current_block_number = ${info.currentBlockNumber}`,
    `current_transfer_rate = ${info.currentTransferRate.toFixed(4)} blocks/second`,
    `avg_transfer_rate = ${info.avgTransferRate.toFixed(4)} blocks/second`,
    `pending = ${info.pendingSets} delta sets, ${info.pendingBlocks} blocks (${formatBytes(info.pendingBytes)})`,
  ];
  for (const d of info.destinations) {
    const rate = d.lastSuccess && d.lastSuccess.seconds > 0 ? `${formatBytes(d.lastSuccess.bytes / d.lastSuccess.seconds)}/s` : '-';
    lines.push(
      '', `destination = ${d.sfs}:cel=${d.node}`, `  state = ${d.state}`, `  current_delta_set = ${d.currentDeltaSet ?? '-'}`,
      `  lag = ${d.lagSeconds === null ? '-' : `${d.lagSeconds.toFixed(1)} s`}`,
      `  last_success = ${d.lastSuccess ? `${time(d.lastSuccess.at)}, ${formatBytes(d.lastSuccess.bytes)} in ${d.lastSuccess.seconds.toFixed(2)} s (${rate})` : '-'}`,
      ...(d.lastError ? [`  last_error = ${d.lastError.message} [${d.lastError.code}]`] : []),
    );
  }
  // The seed's table: the source side of each set, and where it was played back.
  lines.push('', 'Source                                  Destination', 'Delta  Create_time     Dur(s)  Blocks    Playback_time   Dur(s)  Blocks  Node');
  for (const s of [...info.sets].reverse()) {
    const source = `${String(s.n).padEnd(6)} ${time(s.created)}  ${(s.cutMs / 1000).toFixed(1).padEnd(7)} ${String(s.blocks).padEnd(9)}`;
    const plays = Object.entries(s.played);
    if (plays.length === 0) lines.push(source);
    for (const [node, p] of plays) lines.push(`${source} ${time(p.at)}  ${(p.ms / 1000).toFixed(1).padEnd(7)} ${String(p.blocks).padEnd(7)} ${node}`);
  }
  return lines;
}

async function print(ctx: CommandContext, value: unknown, lines: () => string[]): Promise<void> {
  if (flag(ctx, 'json')) await ctx.print(JSON.stringify(value, null, 2));
  else for (const line of lines()) await ctx.print(line);
}

const run: Record<Action, (ctx: CommandContext) => Promise<void>> = {
  async '-start'(ctx) {
    const [pfs, ...dests] = words(ctx, 2, 64, '-start <pfs> <sfs>:cel=<node> [...]');
    const options = parseOptions(option(ctx, '-option') ?? '');
    const info = (await callNode(await ctx.node(), 'POST', '/v1/replication/start', {
      pfs, destinations: dests.map(destination), options,
    })) as PrimaryInfo;
    await print(ctx, info, () => [`replicating ${pfs} to ${dests.join(', ')} over group ${info.group} (the first delta set is the full copy)`]);
  },
  async '-refresh'(ctx) {
    const [pfs] = words(ctx, 1, 1, '-refresh <pfs>');
    const info = (await callNode(await ctx.node(), 'POST', '/v1/replication/refresh', { pfs })) as PrimaryInfo;
    await print(ctx, info, () => [`${pfs}: delta set ${info.currentDeltaSet} played on ${info.destinations.map((d) => `${d.sfs}:cel=${d.node}`).join(', ')}`]);
  },
  async '-stop'(ctx) {
    const [pfs, dest] = words(ctx, 1, 2, '-stop <pfs> [<sfs>:cel=<node>]');
    const node = dest === undefined ? undefined : destination(dest).node;
    const result = (await callNode(await ctx.node(), 'POST', '/v1/replication/stop', { pfs, node })) as { stopped: string[] };
    await print(ctx, result, () => [`stopped replicating ${pfs} to ${result.stopped.join(', ')}`]);
  },
  async '-modify'(ctx) {
    const [pfs] = words(ctx, 1, 1, '-modify <pfs> -option ...');
    const text = option(ctx, '-option');
    if (text === undefined) throw new UsageErrorForCommand('-modify needs -option to=..,hwm=..,dto=..,dhwm=..,qos=..');
    // Only the options named change: the node keeps the others as they are.
    const parsed = parseOptions(text);
    const named = text.split(',').map((part) => part.split('=')[0]!.trim()).filter(Boolean) as (keyof typeof parsed)[];
    const given = Object.fromEntries(named.map((key) => [key, parsed[key]]));
    const info = (await callNode(await ctx.node(), 'POST', '/v1/replication/modify', { pfs, options: given })) as PrimaryInfo & { options: unknown };
    await print(ctx, info, () => [`${pfs}: ${JSON.stringify(info.options)}`]);
  },
  async '-list'(ctx) {
    words(ctx, 0, 0, 'no arguments');
    const list = (await callNode(await ctx.node(), 'GET', '/v1/replication')) as { primaries: PrimaryInfo[]; replicas: { sfs: string; pfs: string; primary: string; played: number | null }[] };
    await print(ctx, list, () => [
      ...list.primaries.map((p) => `${p.name}\treplication\t${p.state}\tset ${p.currentDeltaSet ?? '-'}\t-> ${p.destinations.map((d) => `${d.sfs}:cel=${d.node}`).join(', ')}`),
      ...list.replicas.map((r) => `${r.sfs}\tplayback\tset ${r.played ?? '-'}\t<- ${r.pfs}:cel=${r.primary}`),
    ]);
  },
  async '-info'(ctx) {
    const [fs] = words(ctx, 1, 1, '-info <fs>');
    const info = (await callNode(await ctx.node(), 'GET', `/v1/replication/info?fs=${encodeURIComponent(fs!)}`)) as PrimaryInfo | ReplicaInfo;
    await print(ctx, info, () => infoLines(info));
  },
  async '-failover'(ctx) {
    const [primarySpec, sfs] = words(ctx, 2, 2, '-failover <pfs>:cel=<node> <sfs> [-sync] [-now]');
    const { sfs: pfs, node: primary } = destination(primarySpec!);
    const state = (await callNode(await ctx.node(), 'POST', '/v1/replication/failover', {
      pfs, primary, sfs, sync: flag(ctx, '-sync'), now: flag(ctx, '-now'),
    })) as { restartPoint: string | null; lastPlayed: number | null; primaryDemoted: boolean };
    await print(ctx, state, () => [
      `${sfs} is read-write now; restart point ${state.restartPoint} (delta set ${state.lastPlayed ?? '-'})`,
      state.primaryDemoted ? `${pfs}:cel=${primary} is read-only` : `${pfs}:cel=${primary} could not be reached: make it read-only (server_mount) before it takes writes again`,
    ]);
  },
  async '-resync'(ctx) {
    // The seed writes both `-resync <sfs> <pfs>:cel=<node>` and `-resync <pfs>:cel=<node> <sfs>`.
    const pair = words(ctx, 2, 2, '-resync <sfs> <pfs>:cel=<node>');
    const remoteAt = pair.findIndex((w) => w.includes(':cel='));
    if (remoteAt < 0) throw new UsageErrorForCommand('-resync needs <pfs>:cel=<node> (the old primary) and <sfs>');
    const { sfs: pfs, node: primary } = destination(pair[remoteAt]!);
    const sfs = pair[1 - remoteAt]!;
    const extra = option(ctx, '-option') ?? '';
    const unknown = extra.split(',').filter((w) => w && w !== 'autofullcopy=yes' && w !== 'autofullcopy=no');
    if (unknown.length) throw new UsageErrorForCommand(`-resync takes -option autofullcopy=yes|no, not ${unknown.join(',')}`);
    const state = (await callNode(await ctx.node(), 'POST', '/v1/replication/resync', {
      sfs, pfs, primary, autofullcopy: extra.split(',').includes('autofullcopy=yes'),
    })) as { diverged: { blocks: number; checkpoint: string | null } | null; fullCopy: boolean; sides?: ResyncSides };
    await print(ctx, state, () => [
      ...(state.sides ? [sidesLine(state.sides, sfs)] : []),
      state.diverged?.checkpoint
        ? `${pfs}:cel=${primary} had diverged by ${state.diverged.blocks < 0 ? 'an unknown number of' : state.diverged.blocks} blocks: kept as ${state.diverged.checkpoint}`
        : `${pfs}:cel=${primary} had not diverged from the restart point`,
      state.fullCopy ? `${pfs} could not be undone: it was set aside and made a full copy of ${sfs}` : `${pfs} was undone to the restart point and brought up to ${sfs}`,
      `replicating ${sfs} to ${pfs}:cel=${primary}`,
    ]);
  },
  async '-failback'(ctx) {
    // Run where the source is now: `-failback <source> <replica>:cel=<node>` turns the direction.
    const [source, dest] = words(ctx, 2, 2, '-failback <fs> <sfs>:cel=<node>');
    const { sfs: replica, node } = destination(dest!);
    const state = (await callNode(await ctx.node(), 'POST', '/v1/replication/failback', { source, node, replica })) as { set: number | null };
    await print(ctx, state, () => [
      `${replica}:cel=${node} is the primary now (read-write), replicating to ${source} from delta set ${state.set ?? '-'}`,
      `${source} is its read-only replica`,
    ]);
  },
  async '-status'(ctx) {
    const [pfs, dest] = words(ctx, 2, 2, '-status <pfs> <sfs>:cel=<node>');
    const { node, sfs } = destination(dest!);
    const query = `pfs=${encodeURIComponent(pfs!)}&node=${encodeURIComponent(node)}&sfs=${encodeURIComponent(sfs)}`;
    const status = (await callNode(await ctx.node(), 'GET', `/v1/replication/status?${query}`)) as StatusReport;
    await print(ctx, status, () => statusLines(status, pfs!, dest!));
  },
};

export const fsReplicate: Command = {
  name: 'fs_replicate',
  summary: 'replicate a volume to other nodes by delta sets (the seed\'s fs_replicate; sent to a node with --node)',
  usage: [
    '--node <n> fs_replicate -start <pfs> <sfs>:cel=<node> [<sfs>:cel=<node> ...] [-option to=<s>,hwm=<MB>,dto=<s>,dhwm=<MB>,qos=<KB/s>]',
    '--node <n> fs_replicate -refresh <pfs>            (cut a delta set now; returns once every destination played it)',
    '--node <n> fs_replicate -stop <pfs> [<sfs>:cel=<node>]',
    '--node <n> fs_replicate -modify <pfs> -option ...',
    '--node <n> fs_replicate -list [--json]',
    '--node <n> fs_replicate -info <fs> [--json]',
    '--node <n> fs_replicate -status <pfs> <sfs>:cel=<node> [--json]',
    '--node <secondary> fs_replicate -failover <pfs>:cel=<node> <sfs> [-sync] [-now]',
    '--node <secondary> fs_replicate -resync <sfs> <pfs>:cel=<node> [-option autofullcopy=yes]',
    '--node <source> fs_replicate -failback <fs> <replica>:cel=<node>   (the replica becomes the primary; no full copy)',
  ].join('\n       snapcopy '),
  options: {
    '-start': 'boolean', '-refresh': 'boolean', '-stop': 'boolean', '-modify': 'boolean', '-list': 'boolean',
    '-info': 'boolean', '-status': 'boolean', '-failover': 'boolean', '-resync': 'boolean', '-failback': 'boolean', '-sync': 'boolean', '-now': 'boolean',
    '-option': 'string', json: 'boolean',
  },
  async run(ctx) {
    const given = ACTIONS.filter((a) => flag(ctx, a));
    if (given.length !== 1) throw new UsageErrorForCommand(`give one of ${ACTIONS.join(', ')}`);
    await run[given[0]!](ctx);
  },
};
