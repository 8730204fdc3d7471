import { type Command, expectPositionals, flag, positional } from './command.js';

export const destroy: Command = {
  name: 'destroy',
  summary: 'remove a volume (refused while it has checkpoints, unless -r)',
  usage: 'destroy <fs> [-r]   (-r: its checkpoints too)',
  options: { '-r': 'boolean', recursive: 'boolean' },
  async run(ctx) {
    const fs = positional(ctx, 0, '<fs>');
    expectPositionals(ctx, 1);
    const recursive = flag(ctx, '-r') || flag(ctx, 'recursive');
    const { checkpoints } = await (await ctx.store()).destroy(fs, { recursive });
    await ctx.print(`destroyed ${fs}${checkpoints ? ` and its ${checkpoints} checkpoint(s)` : ''}`);
  },
};
