import { parseSize } from './args.js';
import { type Command, expectPositionals, option, positional } from './command.js';
import { inputSize, Progress, readInput } from './io.js';

async function* counted(source: AsyncIterable<Uint8Array>, progress: Progress): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    progress.add(chunk.length);
    yield chunk;
  }
}

export const write: Command = {
  name: 'write',
  summary: 'write a file (or standard input) into a volume at a byte offset, as one atomic change',
  usage: 'write <fs> [<file>|-] [--offset <bytes>]   (input past the end of the volume changes nothing)',
  options: { offset: 'string' },
  async run(ctx) {
    const fs = positional(ctx, 0, '<fs>');
    const input = ctx.args.positionals[1] ?? '-';
    expectPositionals(ctx, 2);
    const offset = parseSize(option(ctx, 'offset') ?? '0', '--offset');
    const total = await inputSize(input);
    const store = await ctx.store();
    const progress = new Progress('write', total);
    const written = await store.write(fs, offset, counted(readInput(input), progress), total).finally(() => progress.finish(false));
    await ctx.print(`wrote ${written} bytes to ${fs}`);
  },
};
