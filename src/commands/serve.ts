import process from 'node:process';
import { NodeServer } from '../node/server.js';
import { readPeers } from '../node/peers.js';
import type { RcpTuning } from '../rcp/service.js';
import { parseInteger } from './args.js';
import { type Command, type CommandContext, expectPositionals, option, UsageErrorForCommand } from './command.js';

function tuning(ctx: CommandContext): Partial<RcpTuning> {
  const ms = (name: string) => {
    const text = option(ctx, name);
    return text === undefined ? undefined : parseInteger(text, `--${name}`, 0);
  };
  const keepaliveMs = ms('rcp-keepalive');
  const deadAfterMs = ms('rcp-dead-after');
  const result: Partial<RcpTuning> = {};
  if (keepaliveMs !== undefined || deadAfterMs !== undefined) {
    result.timers = { keepaliveMs: keepaliveMs ?? 1000, deadAfterMs: deadAfterMs ?? 10_000 };
  }
  const giveUpMs = ms('rcp-give-up');
  const coverAfterMs = ms('rcp-cover-after');
  if (giveUpMs !== undefined) result.giveUpMs = giveUpMs;
  if (coverAfterMs !== undefined) result.coverAfterMs = coverAfterMs;
  return result;
}

/**
 * Resolves on the first SIGTERM or SIGINT. Listening starts before the node does, so a
 * signal during start-up is not lost; cancel() stops listening when start-up fails.
 */
function signalled(): { signal: Promise<string>; cancel(): void } {
  let on: (signal: string) => void = () => undefined;
  const cancel = () => {
    process.off('SIGTERM', on);
    process.off('SIGINT', on);
  };
  const signal = new Promise<string>((resolve) => {
    on = (name: string) => {
      cancel();
      resolve(name);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
  return { signal, cancel };
}

export const serve: Command = {
  name: 'serve',
  summary: 'run a node: HTTP control API and RCP on one port',
  usage: 'serve --name <node> --peers <file> [--listen <host:port>] [--data <dir>]\n'
    + '         (--listen defaults to the node\'s address in the peers file, else 127.0.0.1:7700)\n'
    + '         [--rcp-keepalive <ms>] [--rcp-dead-after <ms>] [--rcp-cover-after <ms>] [--rcp-give-up <ms>]',
  options: {
    name: 'string', listen: 'string',
    'rcp-keepalive': 'string', 'rcp-dead-after': 'string', 'rcp-cover-after': 'string', 'rcp-give-up': 'string',
  },
  async run(ctx) {
    expectPositionals(ctx, 0);
    const name = option(ctx, 'name');
    if (!name) throw new UsageErrorForCommand('missing --name');
    if (!ctx.peersPath) throw new UsageErrorForCommand('missing --peers <file> (the nodes and their shared secret)');
    const peers = await readPeers(ctx.peersPath);
    const stop = signalled();
    const node = await NodeServer.start({
      name,
      listen: option(ctx, 'listen') ?? peers.nodes[name],
      dataDir: ctx.dataPath,
      peers,
      tuning: tuning(ctx),
      log: (line) => ctx.log(`${name}: ${line}`),
    }).catch((error: unknown) => {
      stop.cancel();
      throw error;
    });
    await ctx.print(`snapcopy node ${name} listening on ${node.address} (HTTP and RCP)`);
    const signal = await stop.signal;
    ctx.log(`${name}: ${signal}, stopping`);
    await node.close();
  },
};
