import { type Command, expectPositionals, positional } from './command.js';
import { Progress } from './io.js';

export const clone: Command = {
  name: 'clone',
  summary: "make a new volume holding a checkpoint's image (it records that base)",
  usage: 'clone <ckpt> <new-fs>',
  options: {},
  async run(ctx) {
    const ckpt = positional(ctx, 0, '<ckpt>');
    const name = positional(ctx, 1, '<new-fs>');
    expectPositionals(ctx, 2);
    const progress = new Progress('clone', undefined);
    const volume = await (await ctx.dataDir()).clone(ckpt, name, { onProgress: progress.callback }).finally(() => progress.finish());
    await ctx.print(`cloned ${ckpt} to ${volume.name}`);
  },
};
