import { type Command, expectPositionals, positional } from './command.js';

export const rename: Command = {
  name: 'rename',
  summary: 'rename a volume (its checkpoints follow it: <new>@<name>)',
  usage: 'rename <fs> <new-fs>',
  options: {},
  async run(ctx) {
    const fs = positional(ctx, 0, '<fs>');
    const to = positional(ctx, 1, '<new-fs>');
    expectPositionals(ctx, 2);
    await (await ctx.store()).rename(fs, to);
    await ctx.print(`renamed ${fs} to ${to}`);
  },
};
