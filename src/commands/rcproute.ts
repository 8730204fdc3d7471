import { callNode } from '../node/client.js';
import type { Routes } from '../rcp/routing.js';
import { type Command, type CommandContext, flag, keyword, positional, UsageErrorForCommand } from './command.js';

function expectOnly(ctx: CommandContext, keys: string[]): void {
  for (const word of ctx.args.positionals.slice(1)) {
    if (!keys.some((key) => word.startsWith(`${key}=`))) throw new UsageErrorForCommand(`unexpected ${JSON.stringify(word)}`);
  }
}

async function printRoutes(ctx: CommandContext, routes: Routes): Promise<void> {
  if (flag(ctx, 'json')) {
    await ctx.print(JSON.stringify(routes, null, 2));
    return;
  }
  const lines = Object.entries(routes).flatMap(([group, hops]) => hops.map((hop) => `group=${group} nexthop=${hop}`));
  for (const line of lines.length ? lines : ['(no routes)']) await ctx.print(line);
}

export const rcproute: Command = {
  name: 'rcproute',
  summary: 'a node\'s RCP routing table: next hops per group',
  usage: '--node <n> rcproute add group=<g> nexthop=<node|host:port>\n'
    + '       snapcopy --node <n> rcproute display [--json]\n'
    + '       snapcopy --node <n> rcproute delete [group=<g>]',
  options: { json: 'boolean' },
  async run(ctx) {
    const action = positional(ctx, 0, 'add, display or delete');
    const node = await ctx.node();
    if (action === 'add') {
      expectOnly(ctx, ['group', 'nexthop']);
      const group = keyword(ctx, 'group');
      const nexthop = keyword(ctx, 'nexthop');
      if (!group || !nexthop) throw new UsageErrorForCommand('rcproute add needs group=<g> nexthop=<node>');
      const answer = (await callNode(node, 'POST', '/v1/routes', { group, nexthop })) as { added: boolean };
      await ctx.print(answer.added ? `${node.label}: group ${group} → ${nexthop}` : `${node.label}: group ${group} already goes to ${nexthop}`);
    } else if (action === 'display') {
      expectOnly(ctx, []);
      await printRoutes(ctx, ((await callNode(node, 'GET', '/v1/routes')) as { routes: Routes }).routes);
    } else if (action === 'delete') {
      expectOnly(ctx, ['group']);
      const group = keyword(ctx, 'group');
      const query = group === undefined ? '' : `?group=${encodeURIComponent(group)}`;
      const answer = (await callNode(node, 'DELETE', `/v1/routes${query}`)) as { deleted: string[] };
      await ctx.print(`${node.label}: deleted ${answer.deleted.length ? answer.deleted.map((g) => `group ${g}`).join(', ') : 'nothing'}`);
    } else {
      throw new UsageErrorForCommand(`unknown action ${action} (add, display or delete)`);
    }
  },
};
