import { parseSize } from './args.js';
import { type Command, expectPositionals, option, positional, UsageErrorForCommand } from './command.js';
import { formatBytes } from './io.js';

export const resize: Command = {
  name: 'resize',
  summary: 'grow a volume, or shrink it when the cut-off blocks are unused now and in every checkpoint',
  usage: 'resize <fs> --size <n[K|M|G|T]>',
  options: { size: 'string' },
  async run(ctx) {
    const fs = positional(ctx, 0, '<fs>');
    expectPositionals(ctx, 1);
    const size = option(ctx, 'size');
    if (size === undefined) throw new UsageErrorForCommand('missing --size');
    const info = await (await ctx.store()).resize(fs, parseSize(size, '--size'));
    await ctx.print(`resized ${fs} to ${formatBytes(info.size)} (${info.blocks} blocks of ${info.blockSize})`);
  },
};
