import { type Command, expectPositionals, flag } from './command.js';
import { table, VOLUME_COLUMNS, volumeRow } from './volume-table.js';

export const list: Command = {
  name: 'list',
  summary: 'list the volumes: size, block size, granularity, bytes used on disk, checkpoints, base image',
  usage: 'list [--json]',
  options: { json: 'boolean' },
  async run(ctx) {
    expectPositionals(ctx, 0);
    const volumes = await (await ctx.store()).list();
    if (flag(ctx, 'json')) {
      await ctx.print(JSON.stringify(volumes, null, 2));
      return;
    }
    if (volumes.length === 0) {
      await ctx.print('no volumes');
      return;
    }
    for (const line of table([[...VOLUME_COLUMNS], ...volumes.map(volumeRow)])) await ctx.print(line);
  },
};
