import { publishVersions, type PublishResult } from '../distribution/publish.js';
import { DEFAULT_KEEP, MAX_KEEP } from '../distribution/publish-plan.js';
import { type Command, expectPositionals, flag, option, positional, UsageErrorForCommand } from './command.js';
import { Progress } from './io.js';

function keepOption(text: string | undefined): number {
  if (text === undefined) return DEFAULT_KEEP;
  if (!/^\d+$/.test(text) || Number(text) > MAX_KEEP) {
    throw new UsageErrorForCommand(`--keep takes a whole number of versions from 0 to ${MAX_KEEP}, not ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function describe(result: PublishResult): string {
  const what = `${result.volume}@${result.youngest.name} and ${result.versions - 1} version(s) before it`;
  if (!result.indexChanged && result.written.length === 0) return `${result.dir} already publishes ${what}: nothing changed`;
  return `published ${what} in ${result.dir}: ${result.written.length} file(s) written (${result.bytes} bytes), `
    + `${result.removed.length} removed`;
}

export const publish: Command = {
  name: 'publish',
  summary: 'write a volume\'s versions as plain files for any web server: an index, a full stream and deltas (pull takes their URL)',
  usage: `publish <fs> <dir> [--keep <K>] [--json]   (the latest checkpoint, with deltas from the K versions before it; default K ${DEFAULT_KEEP})`,
  options: { keep: 'string', json: 'boolean' },
  async run(ctx) {
    const fs = positional(ctx, 0, '<fs>');
    const dir = positional(ctx, 1, '<dir>');
    expectPositionals(ctx, 2);
    const keep = keepOption(option(ctx, 'keep'));
    const store = await ctx.store();
    const progress = new Progress('publish', undefined);
    let result: PublishResult;
    try {
      result = await publishVersions(store, fs, dir, { keep, onProgress: (n) => progress.add(n) });
    } finally {
      progress.finish(false);
    }
    if (flag(ctx, 'json')) await ctx.print(JSON.stringify(result));
    else await ctx.print(describe(result));
  },
};
