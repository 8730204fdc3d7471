import type { Volume } from '../volume/volume.js';
import { type Command, positional, UsageErrorForCommand } from './command.js';
import { writeAll } from './io.js';

/** [older, newer?, file?]: a second argument that names a checkpoint of the volume is <newer>. */
function split(volume: Volume, rest: string[]): { older: string; newer?: string; file?: string } {
  const [older, second, third] = rest;
  if (rest.length > 3) throw new UsageErrorForCommand(`unexpected argument ${JSON.stringify(rest[3])}`);
  if (rest.length === 3) return { older: older!, newer: second, file: third };
  const isCheckpoint = second !== undefined && volume.listCheckpoints().some((c) => c.name === second);
  return isCheckpoint ? { older: older!, newer: second } : { older: older!, file: second };
}

export const exportDiff: Command = {
  name: 'export-diff',
  summary: 'write the delta between two checkpoints as a delta stream (to a file or standard output)',
  usage: 'export-diff <fs> <older> [<newer>] [<file>|-]',
  options: {},
  async run(ctx) {
    const volume = await (await ctx.dataDir()).volume(positional(ctx, 0, '<fs>'));
    positional(ctx, 1, '<older>');
    const { older, newer, file } = split(volume, ctx.args.positionals.slice(1));
    const size = await volume.diffSize(older, newer);
    await writeAll(file, 'export', size.dataBytes, volume.exportDiff(older, newer, { transient: true }));
  },
};
