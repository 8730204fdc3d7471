import { callNode } from '../node/client.js';
import { type Command, expectPositionals, positional, UsageErrorForCommand } from './command.js';

export const rcpConfig: Command = {
  name: 'RCP_config',
  summary: 'tell a node where another node is (its peer table)',
  usage: '--node <n> RCP_config <node> add <host:port>\n       snapcopy --node <n> RCP_config <node> delete',
  options: {},
  async run(ctx) {
    const peer = positional(ctx, 0, '<node>');
    const action = positional(ctx, 1, 'add or delete');
    const node = await ctx.node();
    if (action === 'add') {
      const address = positional(ctx, 2, '<host:port>');
      expectPositionals(ctx, 3);
      await callNode(node, 'POST', '/v1/peers', { name: peer, address });
      await ctx.print(`${node.label}: ${peer} is at ${address}`);
    } else if (action === 'delete') {
      expectPositionals(ctx, 2);
      await callNode(node, 'DELETE', `/v1/peers/${encodeURIComponent(peer)}`);
      await ctx.print(`${node.label}: forgot ${peer}`);
    } else {
      throw new UsageErrorForCommand(`unknown action ${action} (add or delete)`);
    }
  },
};
