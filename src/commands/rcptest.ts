import { resolve } from 'node:path';
import { SnapcopyError } from '../errors.js';
import { callNode } from '../node/client.js';
import type { RcptestResult } from '../node/rcptest.js';
import { type Command, flag, keyword, UsageErrorForCommand } from './command.js';

export const rcptest: Command = {
  name: 'rcptest',
  summary: 'send a file from a node to every destination of a group, and report each one',
  usage: '--node <n> rcptest data=<file> group=<g> [--json]   (the file is read by the node)',
  options: { json: 'boolean' },
  async run(ctx) {
    const data = keyword(ctx, 'data');
    const group = keyword(ctx, 'group');
    if (!data || !group) throw new UsageErrorForCommand('rcptest needs data=<file> group=<g>');
    if (ctx.args.positionals.length !== 2) throw new UsageErrorForCommand('rcptest takes only data=<file> group=<g>');
    const node = await ctx.node();
    const result = (await callNode(node, 'POST', '/v1/rcptest', { path: resolve(data), group })) as RcptestResult;
    const entries = Object.entries(result.destinations).sort(([a], [b]) => a.localeCompare(b));
    const failed = entries.filter(([, d]) => d.status !== 'ok');
    if (flag(ctx, 'json')) {
      await ctx.print(JSON.stringify(result, null, 2));
    } else {
      for (const [name, d] of entries) {
        await ctx.print(d.status === 'ok' ? `${name}\tok\t${result.bytes} bytes` : `${name}\t${d.status}\t${d.error ?? `acknowledged ${d.acked} frames`}`);
      }
      const mbps = result.bytes / 1e6 / Math.max(result.seconds, 1e-9);
      await ctx.print(`sent ${result.name} (${result.bytes} bytes) to ${entries.length - failed.length} of ${entries.length} destinations in ${result.seconds.toFixed(3)} s (${mbps.toFixed(1)} MB/s)`);
    }
    if (failed.length > 0) throw new SnapcopyError('ERR_UNREACHABLE', `${failed.length} destination(s) did not acknowledge the whole file`);
  },
};
