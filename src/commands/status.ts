import { callNode } from '../node/client.js';
import type { NodeStatus } from '../node/server.js';
import { type Command, expectPositionals, flag } from './command.js';

export const status: Command = {
  name: 'status',
  summary: 'a node\'s name, address and RCP sessions',
  usage: '--node <n> status [--json]',
  options: { json: 'boolean' },
  async run(ctx) {
    expectPositionals(ctx, 0);
    const node = await ctx.node();
    const answer = (await callNode(node, 'GET', '/v1/status')) as NodeStatus;
    if (flag(ctx, 'json')) {
      await ctx.print(JSON.stringify(answer, null, 2));
      return;
    }
    await ctx.print(`node ${answer.name} at ${answer.address}: ${answer.sessions.length} session(s)`);
    for (const s of answer.sessions) {
      const from = s.upstream ? `from ${s.upstream}` : 'origin';
      await ctx.print(`  ${s.id}  group ${s.group}  ${from}  frames ${s.have}${s.end ? ` of ${s.end}` : ''}  hops ${s.hops.map((h) => `${h.name}:${h.state}`).join(' ') || '-'}`);
    }
  },
};
