import { parseSize } from './args.js';
import { type Command, expectPositionals, option, positional, UsageErrorForCommand } from './command.js';

export const discard: Command = {
  name: 'discard',
  summary: 'mark whole blocks unused (they read as zeros)',
  usage: 'discard <fs> --offset <bytes> --length <bytes>',
  options: { offset: 'string', length: 'string' },
  async run(ctx) {
    const fs = positional(ctx, 0, '<fs>');
    expectPositionals(ctx, 1);
    const offset = option(ctx, 'offset');
    const length = option(ctx, 'length');
    if (offset === undefined || length === undefined) throw new UsageErrorForCommand('discard needs --offset and --length');
    await (await ctx.store()).discard(fs, parseSize(offset, '--offset'), parseSize(length, '--length'));
    await ctx.print(`discarded ${length} bytes of ${fs} at ${offset}`);
  },
};
