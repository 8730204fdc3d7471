import { callNode } from '../node/client.js';
import { readPeers } from '../node/peers.js';
import { httpTokenOf } from '../rcp/auth.js';
import { type Command, type CommandContext, expectPositionals, flag, positional, UsageErrorForCommand } from './command.js';

interface TokenJson {
  id: string;
  volume: string;
  created?: string;
  token?: string;
}

async function create(ctx: CommandContext): Promise<void> {
  if (!flag(ctx, 'read-only')) throw new UsageErrorForCommand('tokens are read-only: give --read-only <fs>');
  const fs = positional(ctx, 1, '<fs>');
  expectPositionals(ctx, 2);
  const made = (await callNode(await ctx.node(), 'POST', '/v1/tokens', { volume: fs })) as TokenJson;
  if (flag(ctx, 'json')) await ctx.print(JSON.stringify(made));
  else await ctx.print(made.token!);
  if (!flag(ctx, 'json')) ctx.log(`token ${made.id}: reads the versions of ${made.volume} only; it is shown once (the node keeps only its hash)`);
}

/** The nodes' full-access token (the status page's login, --token), from the peers file's secret. */
async function nodeToken(ctx: CommandContext): Promise<void> {
  expectPositionals(ctx, 1);
  if (!ctx.peersPath) throw new UsageErrorForCommand('token node reads the peers file: give --peers <file> (or $SNAPCOPY_PEERS)');
  await ctx.print(await httpTokenOf((await readPeers(ctx.peersPath)).secret));
}

async function list(ctx: CommandContext): Promise<void> {
  expectPositionals(ctx, 1);
  const { tokens } = (await callNode(await ctx.node(), 'GET', '/v1/tokens')) as { tokens: TokenJson[] };
  if (flag(ctx, 'json')) await ctx.print(JSON.stringify(tokens, null, 2));
  else for (const t of tokens) await ctx.print(`${t.id}\t${t.volume}\t${t.created}`);
}

async function revoke(ctx: CommandContext): Promise<void> {
  const id = positional(ctx, 1, '<id>');
  expectPositionals(ctx, 2);
  await callNode(await ctx.node(), 'DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
  await ctx.print(`revoked ${id}`);
}

export const token: Command = {
  name: 'token',
  summary: 'read-only tokens of a node: a client holding one can pull one volume\'s versions and nothing else',
  usage: '--node <n> token create --read-only <fs> [--json] | token list [--json] | token revoke <id> | --peers <file> token node',
  options: { 'read-only': 'boolean', json: 'boolean' },
  async run(ctx) {
    const verb = positional(ctx, 0, 'create, list, revoke or node');
    if (verb === 'create') return create(ctx);
    if (verb === 'node') return nodeToken(ctx);
    if (verb === 'list') return list(ctx);
    if (verb === 'revoke') return revoke(ctx);
    throw new UsageErrorForCommand(`unknown token command ${JSON.stringify(verb)} (create, list, revoke or node)`);
  },
};
