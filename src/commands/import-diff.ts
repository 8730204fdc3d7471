import type { ImportOutcome } from '../volume/store.js';
import { type Command, expectPositionals, flag, positional } from './command.js';
import { inputSize, Progress, readInput } from './io.js';

async function* counted(source: AsyncIterable<Uint8Array>, progress: Progress): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    progress.add(chunk.length);
    yield chunk;
  }
}

function describe(outcome: ImportOutcome): string {
  const blocks = `${outcome.dataBlocks} data blocks and ${outcome.unusedBlocks} unused blocks`;
  switch (outcome.result) {
    case 'already': return `${outcome.volume} is already at ${outcome.imageName}: nothing changed`;
    case 'created': return `created ${outcome.volume} from a full stream of ${outcome.imageName} (${blocks})`;
    default: return `imported ${blocks} into ${outcome.volume} (now at ${outcome.imageName})`
      + (outcome.rolledBackTo ? `, after rolling it back to ${outcome.rolledBackTo}` : '');
  }
}

export const importDiff: Command = {
  name: 'import-diff',
  summary: 'apply a delta stream to the volume holding its base image (atomic); a full stream creates the volume',
  usage: 'import-diff <fs> [<file>|-] [--rollback]   (--rollback: restore the checkpoint holding the base first, as zfs recv -F)',
  options: { rollback: 'boolean' },
  async run(ctx) {
    const fs = positional(ctx, 0, '<fs>');
    const input = ctx.args.positionals[1] ?? '-';
    expectPositionals(ctx, 2);
    const store = await ctx.store();
    const progress = new Progress('import', await inputSize(input));
    try {
      const outcome = await store.importDiff(fs, counted(readInput(input), progress), { rollback: flag(ctx, 'rollback') });
      progress.finish(false);
      await ctx.print(describe(outcome));
    } finally {
      progress.finish(false);
    }
  },
};
