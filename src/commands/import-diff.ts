import { type Command, expectPositionals, positional } from './command.js';
import { inputSize, Progress, readInput } from './io.js';

async function* counted(source: AsyncIterable<Uint8Array>, progress: Progress): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    progress.add(chunk.length);
    yield chunk;
  }
}

export const importDiff: Command = {
  name: 'import-diff',
  summary: 'apply a delta stream to the volume holding its base image (atomic)',
  usage: 'import-diff <fs> [<file>|-]',
  options: {},
  async run(ctx) {
    const volume = await (await ctx.dataDir()).volume(positional(ctx, 0, '<fs>'));
    const input = ctx.args.positionals[1] ?? '-';
    expectPositionals(ctx, 2);
    const progress = new Progress('import', await inputSize(input));
    try {
      const result = await volume.importDiff(counted(readInput(input), progress));
      await ctx.print(`imported ${result.dataBlocks} data blocks and ${result.unusedBlocks} unused blocks into ${volume.name} (now image ${result.header.to.id})`);
    } finally {
      progress.finish();
    }
  },
};
