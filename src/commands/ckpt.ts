import { type Command, type CommandContext, expectPositionals, flag, positional, UsageErrorForCommand } from './command.js';
import { Progress } from './io.js';

async function createCkpt(ctx: CommandContext): Promise<void> {
  const spec = positional(ctx, 1, '<fs>');
  expectPositionals(ctx, 3);
  // `ckpt create vol monday` or, as zfs snapshot writes it, `ckpt create vol@monday`.
  const at = spec.indexOf('@');
  if (at >= 0 && ctx.args.positionals[2] !== undefined) throw new UsageErrorForCommand('give the name once: <fs>@<name> or <fs> <name>');
  const [fs, name] = at >= 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, ctx.args.positionals[2]];
  const info = await (await ctx.store()).createCheckpoint(fs, name);
  await ctx.print(`${fs}@${info.name}`);
}

async function listCkpts(ctx: CommandContext): Promise<void> {
  const fs = positional(ctx, 1, '<fs>');
  expectPositionals(ctx, 2);
  const list = await (await ctx.store()).listCheckpoints(fs);
  if (flag(ctx, 'json')) {
    await ctx.print(JSON.stringify(list, null, 2));
    return;
  }
  for (const c of list) await ctx.print(`${fs}@${c.name}\t${c.created}\t${c.image}`);
}

/** `ckpt delete <fs>@<name>`, `ckpt delete <fs> <name>`, or `ckpt delete <name>` when only one volume has it. */
async function deleteCkpt(ctx: CommandContext): Promise<void> {
  const first = positional(ctx, 1, '<fs>@<ckpt>');
  expectPositionals(ctx, 3);
  const second = ctx.args.positionals[2];
  const deleted = second === undefined
    ? await (await ctx.store()).deleteCheckpoint(first)
    : await (await ctx.store()).deleteCheckpoint(second, first);
  await ctx.print(`deleted ${deleted}`);
}

async function restoreCkpt(ctx: CommandContext): Promise<void> {
  const first = positional(ctx, 1, '<fs> <ckpt>');
  expectPositionals(ctx, 3);
  const second = ctx.args.positionals[2];
  const at = first.indexOf('@');
  if (second === undefined && at < 0) throw new UsageErrorForCommand('missing <ckpt> (restore <fs> <ckpt>, or restore <fs>@<ckpt>)');
  const [fs, checkpoint] = second === undefined ? [first.slice(0, at), first] : [first, second];
  const progress = new Progress('restore', undefined);
  const restored = await (await ctx.store()).restore(fs, checkpoint, progress.callback).finally(() => progress.finish());
  await ctx.print(`restored ${fs} to ${restored}`);
}

const subcommands: Record<string, (ctx: CommandContext) => Promise<void>> = {
  create: createCkpt, list: listCkpts, delete: deleteCkpt, restore: restoreCkpt,
};

export const ckpt: Command = {
  name: 'ckpt',
  summary: 'create, list, delete and restore checkpoints (named <fs>@<name>; names are per volume)',
  usage: [
    'ckpt create <fs> [<name>] | ckpt create <fs>@<name>   (prints <fs>@<name>)',
    'ckpt list <fs> [--json]',
    'ckpt delete <fs>@<name> | ckpt delete <fs> <name> | ckpt delete <name>   (a bare name must be unambiguous)',
    'ckpt restore <fs> <name> | ckpt restore <fs>@<name>',
  ].join('\n       snapcopy '),
  options: { json: 'boolean' },
  async run(ctx) {
    const sub = positional(ctx, 0, 'a subcommand (create, list, delete, restore)');
    const run = subcommands[sub];
    if (!run) throw new UsageErrorForCommand(`unknown subcommand ckpt ${sub}`);
    await run(ctx);
  },
};
