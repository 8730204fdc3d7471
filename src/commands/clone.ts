import { type Command, expectPositionals, positional } from './command.js';
import { Progress } from './io.js';

export const clone: Command = {
  name: 'clone',
  summary: "make a new volume holding a checkpoint's image (it records that base); a failed clone leaves nothing",
  usage: 'clone <fs>@<ckpt> <new-fs>   (or a bare <ckpt> that only one volume has)',
  options: {},
  async run(ctx) {
    const ckpt = positional(ctx, 0, '<fs>@<ckpt>');
    const name = positional(ctx, 1, '<new-fs>');
    expectPositionals(ctx, 2);
    const progress = new Progress('clone', undefined);
    const info = await (await ctx.store()).clone(ckpt, name, progress.callback).finally(() => progress.finish());
    await ctx.print(`cloned ${ckpt} to ${info.name}`);
  },
};
