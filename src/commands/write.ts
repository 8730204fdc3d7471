import { parseSize } from './args.js';
import { type Command, expectPositionals, flag, option, positional, UsageErrorForCommand } from './command.js';
import { inputSize, Progress, readInput } from './io.js';
import { LocalStore } from '../volume/store.js';

async function* counted(source: AsyncIterable<Uint8Array>, progress: Progress): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    progress.add(chunk.length);
    yield chunk;
  }
}

export const write: Command = {
  name: 'write',
  summary: 'write a file (or standard input) into a volume at a byte offset, as one atomic change',
  usage: 'write <fs> [<file>|-] [--offset <bytes>] [--no-compare]   (input past the end of the volume changes nothing;\n'
    + '      --no-compare writes and marks every block, even one that already holds the same bytes)',
  options: { offset: 'string', 'no-compare': 'boolean' },
  async run(ctx) {
    const fs = positional(ctx, 0, '<fs>');
    const input = ctx.args.positionals[1] ?? '-';
    expectPositionals(ctx, 2);
    const offset = parseSize(option(ctx, 'offset') ?? '0', '--offset');
    const compare = !flag(ctx, 'no-compare');
    // A node's volume API has no compare switch: its writes compare as its data directory says.
    if (!compare && ctx.nodeGiven) throw new UsageErrorForCommand('--no-compare writes to a local data directory, not through --node');
    const total = await inputSize(input);
    const store = await ctx.store();
    const progress = new Progress('write', total);
    const source = counted(readInput(input), progress);
    const writing = compare
      ? store.write(fs, offset, source, total)
      : (store as LocalStore).dir.volume(fs).then((volume) => volume.writeFrom(offset, source, { size: total, compare: false }));
    const written = await writing.finally(() => progress.finish(false));
    await ctx.print(`wrote ${written} bytes to ${fs}`);
  },
};
