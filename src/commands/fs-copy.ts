import { type Command, expectPositionals, option, positional, UsageErrorForCommand } from './command.js';
import { Progress } from './io.js';

export const fsCopy: Command = {
  name: 'fs_copy',
  summary: 'copy the delta between two checkpoints to a volume holding the older (the seed\'s fs_copy; local target)',
  usage: 'fs_copy -start <ckpt2> <sfs> -fromfs <ckpt1>   (checkpoints as <fs>@<name>, or bare names)',
  options: { '-start': 'string', '-fromfs': 'string' },
  async run(ctx) {
    const newer = option(ctx, '-start');
    const older = option(ctx, '-fromfs');
    if (newer === undefined || older === undefined) throw new UsageErrorForCommand('fs_copy needs -start <ckpt2> and -fromfs <ckpt1>');
    const target = positional(ctx, 0, '<sfs>');
    if (target.includes(':cel=')) throw new UsageErrorForCommand('remote targets (:cel=<node>) come with replication; give a local volume');
    expectPositionals(ctx, 1);
    const progress = new Progress('fs_copy', undefined);
    const result = await (await ctx.store()).copyDelta(newer, target, older, progress.callback).finally(() => progress.finish());
    await ctx.print(result.full
      ? `${target} did not exist: made it a full copy of ${newer} (${result.dataBlocks} blocks)`
      : `copied delta ${older} -> ${newer} to ${target}: ${result.dataBlocks} data blocks, ${result.unusedBlocks} unused`);
  },
};
