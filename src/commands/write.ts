import { outOfRange } from '../errors.js';
import { parseSize } from './args.js';
import { type Command, expectPositionals, option, positional } from './command.js';
import { inputSize, Progress, readInput } from './io.js';

export const write: Command = {
  name: 'write',
  summary: 'write a file (or standard input) into a volume at a byte offset',
  usage: 'write <fs> [<file>|-] [--offset <bytes>]',
  options: { offset: 'string' },
  async run(ctx) {
    const volume = await (await ctx.dataDir()).volume(positional(ctx, 0, '<fs>'));
    const input = ctx.args.positionals[1] ?? '-';
    expectPositionals(ctx, 2);
    let at = parseSize(option(ctx, 'offset') ?? '0', '--offset');
    const total = await inputSize(input);
    if (total !== undefined && at + total > volume.size) {
      throw outOfRange(`${total} bytes at offset ${at} do not fit in ${volume.name} (${volume.size} bytes)`);
    }
    const progress = new Progress('write', total);
    let written = 0;
    for await (const chunk of readInput(input)) {
      await volume.write(at, chunk);
      at += chunk.length;
      written += chunk.length;
      progress.add(chunk.length);
    }
    progress.finish();
    await ctx.print(`wrote ${written} bytes to ${volume.name}`);
  },
};
