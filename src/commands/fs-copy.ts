import { callNode } from '../node/client.js';
import type { ImportOutcome } from '../volume/store.js';
import { type Command, expectPositionals, option, positional, UsageErrorForCommand } from './command.js';
import { Progress } from './io.js';

export const fsCopy: Command = {
  name: 'fs_copy',
  summary: 'copy the delta between two checkpoints to a volume holding the older (the seed\'s fs_copy), here or on another node',
  usage: '[--node <n>] fs_copy -start <ckpt2> <sfs>[:cel=<node>] -fromfs <ckpt1>   (checkpoints as <fs>@<name>, or bare names)',
  options: { '-start': 'string', '-fromfs': 'string' },
  async run(ctx) {
    const newer = option(ctx, '-start');
    const older = option(ctx, '-fromfs');
    if (newer === undefined || older === undefined) throw new UsageErrorForCommand('fs_copy needs -start <ckpt2> and -fromfs <ckpt1>');
    const target = positional(ctx, 0, '<sfs>');
    expectPositionals(ctx, 1);
    const remote = /^([^:]+):cel=(.+)$/.exec(target);
    if (remote) {
      // The node holding the checkpoints streams the delta to the other node's volume.
      if (!ctx.nodeGiven) throw new UsageErrorForCommand('a remote target (<sfs>:cel=<node>) needs --node <the node holding the checkpoints>');
      const [, sfs, node] = remote;
      const result = (await callNode(await ctx.node(), 'POST', '/v1/replication/copy', { newer, older, node, sfs })) as ImportOutcome & { full: boolean };
      await ctx.print(result.result === 'already'
        ? `${target} is already at ${result.imageName}: nothing changed`
        : `${result.full ? `${target} did not exist: made it a full copy of ${newer}` : `copied delta ${older} -> ${newer} to ${target}`}: ${result.dataBlocks} data blocks, ${result.unusedBlocks} unused`);
      return;
    }
    const progress = new Progress('fs_copy', undefined);
    const result = await (await ctx.store()).copyDelta(newer, target, older, progress.callback).finally(() => progress.finish());
    await ctx.print(result.full
      ? `${target} did not exist: made it a full copy of ${newer} (${result.dataBlocks} blocks)`
      : `copied delta ${older} -> ${newer} to ${target}: ${result.dataBlocks} data blocks, ${result.unusedBlocks} unused`);
  },
};
