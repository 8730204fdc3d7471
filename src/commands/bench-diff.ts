import { type BenchDiffResult, type BackendTiming, benchDiff as measure } from '../volume/bench-diff.js';
import { parseCheckpointSpec } from '../volume/names.js';
import { parseInteger } from './args.js';
import { type Command, expectPositionals, flag, option, positional, UsageErrorForCommand } from './command.js';
import { formatBytes } from './io.js';
import { table } from './volume-table.js';

export const benchDiff: Command = {
  name: 'bench-diff',
  summary: 'time the delta count and scan of your own volume with the WebAssembly and the pure-TS kernels',
  usage: 'bench-diff <fs>@<older> [<newer>] [--repeat <n>] [--json]   (newer: <name> or <fs>@<name>, left out: the live volume; --repeat: timed runs per backend, default 5; both backends run whatever --kernels says)',
  options: { json: 'boolean', repeat: 'string' },
  async run(ctx) {
    // The point is to time the kernels of this process on these files: a node's would be another process.
    if (ctx.nodeGiven) throw new UsageErrorForCommand('bench-diff runs where the data is: run it on the node\'s machine without --node (and with the node stopped)');
    const olderSpec = positional(ctx, 0, '<fs>@<older>');
    expectPositionals(ctx, 2);
    const { volume, checkpoint: older } = parseCheckpointSpec(olderSpec);
    if (volume === undefined) throw new UsageErrorForCommand(`name the older checkpoint with its volume, as <fs>@${older}`);
    const repeat = parseInteger(option(ctx, 'repeat'), '--repeat', 5);
    const wait = option(ctx, 'wait');
    const result = await measure({
      path: ctx.dataPath, volume, older, newer: ctx.args.positionals[1], repeat, wait: wait === undefined ? 0 : Number(wait),
    });
    if (flag(ctx, 'json')) {
      await ctx.print(JSON.stringify(result, null, 2));
      return;
    }
    for (const line of report(result)) await ctx.print(line);
  },
};

const COLUMNS = ['BACKEND', 'COUNT', 'COUNT GB/s', 'SCAN', 'SCAN GB/s', 'EXTENTS'];

/** The table and what it measured, in lines. */
function report(r: BenchDiffResult): string[] {
  const [wasm] = r.backends as [BackendTiming, BackendTiming];
  const b = r.scannedBytes;
  return [
    `delta of ${r.volume} from ${r.older} to ${r.newer ?? 'the live volume'}: ${r.blocks} blocks of ${r.blockSize} bytes,`
      + ` granularity ${r.granularity}; median of ${r.repeat} run${r.repeat === 1 ? '' : 's'} per backend`,
    `bytes read per count or scan: ${formatBytes(b.total)} (stored pages of bit maps ${formatBytes(b.bitmap)} and meta maps`
      + ` ${formatBytes(b.meta)}; a sparse page counts its bit list, page tables and all-zero or all-one pages not at all)`,
    '',
    ...table([
      COLUMNS,
      ...r.backends.map((t) => [t.backend, ms(t.countMs), gbps(t.countGBps), ms(t.scanMs), gbps(t.scanGBps), String(t.scan.extents)]),
      ['ts/wasm', times(r.ratio.count), '', times(r.ratio.scan), '', ''],
    ]).map((line) => line.trimEnd()),
    '',
    `both backends agree: ${wasm.size.dataBlocks} data and ${wasm.size.unusedBlocks} unused blocks`
      + ` in ${wasm.scan.extents} extents (digest ${wasm.scan.digest})`,
  ];
}

/** Three significant digits, at least. */
function ms(value: number): string {
  return `${value < 10 ? value.toPrecision(3) : value.toFixed(1)} ms`;
}

function gbps(value: number | null): string {
  return value === null ? '-' : value < 10 ? value.toPrecision(3) : value.toFixed(1);
}

function times(value: number): string {
  return Number.isFinite(value) ? `${value < 10 ? value.toFixed(2) : value.toFixed(1)}x` : '-';
}
