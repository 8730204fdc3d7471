import { outOfRange } from '../errors.js';
import { parseSize } from './args.js';
import { type Command, expectPositionals, option, positional, volumeAndCheckpoint } from './command.js';
import { openOutput, Progress } from './io.js';

const PIECE = 4 << 20;

export const cat: Command = {
  name: 'cat',
  summary: 'read a volume, or a checkpoint of it, to standard output or a file',
  usage: 'cat <fs>[@<ckpt>] [--offset <bytes>] [--length <bytes>] [--out <file>]',
  options: { offset: 'string', length: 'string', out: 'string' },
  async run(ctx) {
    const spec = volumeAndCheckpoint(positional(ctx, 0, '<fs>[@<ckpt>]'));
    expectPositionals(ctx, 1);
    const volume = await (await ctx.dataDir()).volume(spec.volume);
    const offset = parseSize(option(ctx, 'offset') ?? '0', '--offset');
    const length = option(ctx, 'length') === undefined ? Math.max(0, volume.size - offset) : parseSize(option(ctx, 'length')!, '--length');
    // Everything is checked before the output is opened.
    if (offset > volume.size || offset + length > volume.size) {
      throw outOfRange(`bytes [${offset}, ${offset + length}) are past the end of ${volume.name} (${volume.size} bytes)`);
    }
    await volume.read(offset, 0, { checkpoint: spec.checkpoint });
    const out = await openOutput(option(ctx, 'out'));
    const progress = new Progress('cat', length);
    try {
      for (let at = 0; at < length; at += PIECE) {
        const n = Math.min(PIECE, length - at);
        await out.write(await volume.read(offset + at, n, { checkpoint: spec.checkpoint }));
        progress.add(n);
      }
      await out.finish();
    } catch (error) {
      await out.abandon();
      throw error;
    } finally {
      progress.finish();
    }
  },
};
