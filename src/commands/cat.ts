import { outOfRange } from '../errors.js';
import { parseSize } from './args.js';
import { type Command, expectPositionals, option, positional, volumeAndCheckpoint } from './command.js';
import { writeAll } from './io.js';

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
    const pieces = async function* () {
      for (let at = 0; at < length; at += PIECE) {
        yield await volume.read(offset + at, Math.min(PIECE, length - at), { checkpoint: spec.checkpoint });
      }
    };
    await writeAll(option(ctx, 'out'), 'cat', length, pieces());
  },
};
