import { type Command, expectPositionals, flag, positional } from './command.js';
import { formatBytes } from './io.js';

export const info: Command = {
  name: 'info',
  summary: 'what a volume is: geometry, bytes used on disk, base image, checkpoints',
  usage: 'info <fs> [--json]',
  options: { json: 'boolean' },
  async run(ctx) {
    const fs = positional(ctx, 0, '<fs>');
    expectPositionals(ctx, 1);
    const v = await (await ctx.store()).info(fs);
    if (flag(ctx, 'json')) {
      await ctx.print(JSON.stringify(v, null, 2));
      return;
    }
    const lines = [
      `volume:       ${v.name}`,
      `uuid:         ${v.uuid}`,
      `size:         ${formatBytes(v.size)} (${v.size} bytes: ${v.blocks} blocks of ${v.blockSize})`,
      `granularity:  ${v.granularity} (one meta bit per ${2 ** v.granularity} block${v.granularity ? 's' : ''})`,
      `used on disk: ${formatBytes(v.usedBytes)}`,
      `base image:   ${v.base ?? '- (written since its last checkpoint or import)'}`,
      `created:      ${v.created}`,
      `checkpoints:  ${v.checkpoints.length}`,
      ...v.checkpoints.map((c) => `  ${v.name}@${c.name}\t${c.created}\t${c.image}`),
    ];
    for (const line of lines) await ctx.print(line);
  },
};
