import { callNode } from '../node/client.js';
import { type Command, positional, UsageErrorForCommand } from './command.js';

/** The words after <node>: given as separate arguments or as one quoted string, as the seed writes it. */
function words(positionals: string[]): string[] {
  return positionals.slice(1).flatMap((p) => p.trim().split(/\s+/)).filter((w) => w.length > 0);
}

export const serverConfig: Command = {
  name: 'server_config',
  summary: 'configure a node as the primary of a multicast group, or a volume multicast on it',
  usage: '[--node <n>] server_config <node> rep <group> add <address>\n'
    + '       snapcopy [--node <n>] server_config <node> "volmcast <mcnode> [-src|-dest] <volume>"',
  options: { '-src': 'boolean', '-dest': 'boolean' },
  async run(ctx) {
    const name = positional(ctx, 0, '<node>');
    const node = await ctx.node(name);
    const status = (await callNode(node, 'GET', '/v1/status')) as { name: string };
    if (status.name !== name) throw new UsageErrorForCommand(`server_config names node ${name}, but ${node.label} is node ${status.name}`);
    const w = words(ctx.args.positionals);
    if (ctx.args.options.get('-src') === true) w.splice(2, 0, '-src');
    if (ctx.args.options.get('-dest') === true) w.splice(2, 0, '-dest');
    if (w[0] === 'rep') {
      if (w.length !== 4 || w[2] !== 'add') throw new UsageErrorForCommand('expected: rep <group> add <address>');
      await callNode(node, 'POST', '/v1/multicast', { group: w[1], destination: w[3] });
      await ctx.print(`${name}: group ${w[1]} sends to ${w[3]}`);
      return;
    }
    if (w[0] === 'volmcast') {
      const role = w[2] === '-src' ? 'src' : w[2] === '-dest' ? 'dest' : undefined;
      if (w.length !== 4 || !role) throw new UsageErrorForCommand('expected: volmcast <mcnode> -src|-dest <volume>');
      await callNode(node, 'POST', '/v1/volmcast', { mcnode: w[1], role, volume: w[3] });
      await ctx.print(`${name}: volume ${w[3]} is the ${role === 'src' ? 'source' : 'destination'} of multicast node ${w[1]}`);
      return;
    }
    throw new UsageErrorForCommand(`unknown server_config ${w[0] ?? ''} (rep or volmcast)`);
  },
};
