import { DEFAULT_BLOCK_SIZE } from '../volume/data-dir.js';
import { parseInteger, parseSize } from './args.js';
import { type Command, expectPositionals, option, positional, UsageErrorForCommand } from './command.js';

export const create: Command = {
  name: 'create',
  summary: 'create a volume (sparse: it costs what is written)',
  usage: 'create <fs> --size <n[K|M|G|T]> [--block-size <n>] [--meta-granularity <g>]',
  options: { size: 'string', 'block-size': 'string', 'meta-granularity': 'string' },
  async run(ctx) {
    const name = positional(ctx, 0, '<fs>');
    expectPositionals(ctx, 1);
    const size = option(ctx, 'size');
    if (size === undefined) throw new UsageErrorForCommand('missing --size');
    const info = await (await ctx.store()).create(name, {
      size: parseSize(size, '--size'),
      blockSize: parseSize(option(ctx, 'block-size') ?? String(DEFAULT_BLOCK_SIZE), '--block-size'),
      granularity: parseInteger(option(ctx, 'meta-granularity'), '--meta-granularity', 0),
    });
    await ctx.print(`created ${info.name}: ${info.blocks} blocks of ${info.blockSize} bytes, meta granularity ${info.granularity}`);
  },
};
