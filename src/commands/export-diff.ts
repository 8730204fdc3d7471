import type { VolumeStore } from '../volume/store.js';
import { type Command, positional, UsageErrorForCommand } from './command.js';
import { writeAll } from './io.js';

interface ExportArgs {
  fs: string;
  older: string | null;
  newer?: string;
  file?: string;
}

/**
 * `<fs>[@<newer>]` then, in any order, up to two checkpoints of it (older first) and
 * an output file. A word that names a checkpoint of the volume is a checkpoint; the
 * other one is the file. No older checkpoint: a full stream, as `zfs send pool/fs@snap`.
 */
async function parse(store: VolumeStore, words: string[]): Promise<ExportArgs> {
  const [first, ...rest] = words;
  const at = first!.indexOf('@');
  const fs = at < 0 ? first! : first!.slice(0, at);
  const names = new Set((await store.listCheckpoints(fs)).map((c) => c.name));
  const isCheckpoint = (word: string) => names.has(word) || (word.startsWith(`${fs}@`) && names.has(word.slice(fs.length + 1)));
  const checkpoints = rest.filter(isCheckpoint);
  const files = rest.filter((w) => !isCheckpoint(w));
  if (files.length > 1) {
    throw new UsageErrorForCommand(`${files.map((f) => JSON.stringify(f)).join(' and ')} are not checkpoints of ${fs}, and only one output file can be given`);
  }
  const newerFromSpec = at < 0 ? undefined : first!.slice(at + 1);
  const limit = newerFromSpec === undefined ? 2 : 1;
  if (checkpoints.length > limit) throw new UsageErrorForCommand(`too many checkpoints: ${checkpoints.join(', ')}`);
  const [older = null, newer = newerFromSpec] = newerFromSpec === undefined ? checkpoints : [checkpoints[0], newerFromSpec];
  return { fs, older, newer, file: files[0] };
}

export const exportDiff: Command = {
  name: 'export-diff',
  summary: 'write a delta stream: incremental between two checkpoints, or full (no older checkpoint)',
  usage: [
    'export-diff <fs>[@<ckpt>] [<file>|-]                   (full stream of a checkpoint, or of the live volume)',
    'export-diff <fs> <older> [<newer>] [<file>|-]          (incremental; newer left out: the live volume)',
    'export-diff <fs>@<newer> <older> [<file>|-]',
  ].join('\n       snapcopy '),
  options: {},
  async run(ctx) {
    positional(ctx, 0, '<fs>[@<ckpt>]');
    const store = await ctx.store();
    const { fs, older, newer, file } = await parse(store, ctx.args.positionals);
    const exported = await store.exportDiff(fs, older, newer);
    const result = await writeAll(file, 'export', exported.bytes, exported.pieces);
    if (result.summary) await ctx.print(result.summary);
  },
};
