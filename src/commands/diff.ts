import { type Command, expectPositionals, flag, positional } from './command.js';

export const diff: Command = {
  name: 'diff',
  summary: 'list the extents of the delta between two checkpoints (newer left out: the live volume)',
  usage: 'diff <fs> <older> [<newer>] [--json] [--size]   (checkpoints as <name> or <fs>@<name>)',
  options: { json: 'boolean', size: 'boolean' },
  async run(ctx) {
    const fs = positional(ctx, 0, '<fs>');
    const older = positional(ctx, 1, '<older>');
    const newer = ctx.args.positionals[2];
    expectPositionals(ctx, 3);
    const json = flag(ctx, 'json');
    const store = await ctx.store();
    if (flag(ctx, 'size')) {
      const size = await store.diffSize(fs, older, newer);
      if (json) await ctx.print(JSON.stringify(size));
      else await ctx.print(`${size.dataBlocks} data blocks (${size.dataBytes} bytes), ${size.unusedBlocks} unused blocks`);
      return;
    }
    const extents = await store.diff(fs, older, newer);
    if (json) {
      // One JSON array, written as it is produced.
      let first = true;
      await ctx.print('[');
      for await (const e of extents) {
        await ctx.print(`${first ? '' : ','}${JSON.stringify(e)}`);
        first = false;
      }
      await ctx.print(']');
      return;
    }
    for await (const e of extents) await ctx.print(`${e.kind}\t${e.start}\t${e.count}`);
  },
};
