import { RemoteStore } from '../node/volume-client.js';
import { type Command, option, positional, UsageErrorForCommand } from './command.js';

const MODES = ['rw', 'ro', 'raw'] as const;

export const serverMount: Command = {
  name: 'server_mount',
  summary: 'set a volume\'s mode: rw, ro (read-only) or raw (being rebuilt: no reads or writes); durable',
  usage: 'server_mount [<node>] -o rw|ro|raw <fs>   (with <node>, or --node, on that node; else in the local data directory)',
  options: { '-o': 'string' },
  async run(ctx) {
    const mode = option(ctx, '-o');
    if (!mode || !(MODES as readonly string[]).includes(mode)) throw new UsageErrorForCommand('server_mount needs -o rw, -o ro or -o raw');
    const words = ctx.args.positionals;
    if (words.length < 1 || words.length > 2) throw new UsageErrorForCommand('expected [<node>] -o <mode> <fs>');
    const fs = positional(ctx, words.length - 1, '<fs>');
    const node = words.length === 2 ? words[0] : undefined;
    // The seed names the node first (as server_config does); --node says the same.
    const store = node === undefined ? await ctx.store() : new RemoteStore(await ctx.node(node));
    try {
      const result = await store.setMode(fs, mode as typeof MODES[number]);
      await ctx.print(`${fs} is ${result.mode} (was ${result.was})`);
    } finally {
      if (node !== undefined) await store.close();
    }
  },
};
