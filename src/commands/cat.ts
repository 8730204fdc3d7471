import { parseSize } from './args.js';
import { type Command, expectPositionals, option, positional } from './command.js';
import { writeAll } from './io.js';

export const cat: Command = {
  name: 'cat',
  summary: 'read a volume, or a checkpoint of it, to standard output or a file (never to a terminal)',
  usage: 'cat <fs>[@<ckpt>] [--offset <bytes>] [--length <bytes>] [--out <file>]',
  options: { offset: 'string', length: 'string', out: 'string' },
  async run(ctx) {
    const spec = positional(ctx, 0, '<fs>[@<ckpt>]');
    expectPositionals(ctx, 1);
    const offset = parseSize(option(ctx, 'offset') ?? '0', '--offset');
    const lengthText = option(ctx, 'length');
    const length = lengthText === undefined ? undefined : parseSize(lengthText, '--length');
    // The volume, the checkpoint and the range are checked before the output is opened.
    const read = await (await ctx.store()).read(spec, offset, length);
    const result = await writeAll(option(ctx, 'out'), 'cat', read.bytes, read.pieces);
    if (result.summary) await ctx.print(result.summary);
  },
};
