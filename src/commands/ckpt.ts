import { type Command, type CommandContext, expectPositionals, flag, positional, UsageErrorForCommand } from './command.js';
import { Progress } from './io.js';

async function createCkpt(ctx: CommandContext): Promise<void> {
  const volume = await (await ctx.dataDir()).volume(positional(ctx, 1, '<fs>'));
  expectPositionals(ctx, 3);
  const info = await volume.createCheckpoint(ctx.args.positionals[2]);
  await ctx.print(info.name);
}

async function listCkpts(ctx: CommandContext): Promise<void> {
  const volume = await (await ctx.dataDir()).volume(positional(ctx, 1, '<fs>'));
  expectPositionals(ctx, 2);
  const list = volume.listCheckpoints();
  if (flag(ctx, 'json')) {
    await ctx.print(JSON.stringify(list, null, 2));
    return;
  }
  for (const c of list) await ctx.print(`${c.name}\t${c.created}\t${c.id}`);
}

async function deleteCkpt(ctx: CommandContext): Promise<void> {
  const name = positional(ctx, 1, '<ckpt>');
  expectPositionals(ctx, 2);
  const volume = await (await ctx.dataDir()).volumeOfCheckpoint(name);
  await volume.deleteCheckpoint(name);
  await ctx.print(`deleted ${name}`);
}

async function restoreCkpt(ctx: CommandContext): Promise<void> {
  const volume = await (await ctx.dataDir()).volume(positional(ctx, 1, '<fs>'));
  const name = positional(ctx, 2, '<ckpt>');
  expectPositionals(ctx, 3);
  const progress = new Progress('restore', undefined);
  await volume.restore(name, { onProgress: progress.callback }).finally(() => progress.finish());
  await ctx.print(`restored ${volume.name} to ${name}`);
}

const subcommands: Record<string, (ctx: CommandContext) => Promise<void>> = {
  create: createCkpt, list: listCkpts, delete: deleteCkpt, restore: restoreCkpt,
};

export const ckpt: Command = {
  name: 'ckpt',
  summary: 'create, list, delete and restore checkpoints',
  usage: [
    'ckpt create <fs> [<name>]      (prints the name)',
    'ckpt list <fs> [--json]',
    'ckpt delete <ckpt>',
    'ckpt restore <fs> <ckpt>',
  ].join('\n       snapcopy '),
  options: { json: 'boolean' },
  async run(ctx) {
    const sub = positional(ctx, 0, 'a subcommand (create, list, delete, restore)');
    const run = subcommands[sub];
    if (!run) throw new UsageErrorForCommand(`unknown subcommand ckpt ${sub}`);
    await run(ctx);
  },
};
