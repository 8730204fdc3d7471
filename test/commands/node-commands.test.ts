// The node commands as an operator types them: RCP_config, server_config (both of the
// seed's forms, with and without the leading dot), rcproute, status; configuration that
// survives a restart; and each kind of bad input refused with its code, changing nothing.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type CliResult, freePorts, NodeProcess, removeDir, runCli, tempDir, writePeers } from '../helpers/net.js';

const onlyOnce = (process.env.SNAPCOPY_KERNELS ?? 'wasm') !== 'wasm';
const SECRET = 'node-commands-test-secret';

describe.skipIf(onlyOnce)('node commands', () => {
  let root = '';
  let peers = '';
  let n1: NodeProcess;
  let port = 0;

  const cli = (...args: string[]): Promise<CliResult> => runCli(['--peers', peers, ...args], { timeoutMs: 30_000 });
  const routes = async () => JSON.parse((await cli('--node', 'n1', 'rcproute', 'display', '--json')).stdout) as Record<string, string[]>;
  const config = async () => JSON.parse(await readFile(join(root, 'n1', 'node', 'config.json'), 'utf8'));

  beforeAll(async () => {
    root = await tempDir('snapcopy-node-commands-');
    [port] = await freePorts(1) as [number];
    peers = await writePeers(root, SECRET, { n1: `127.0.0.1:${port}`, n2: '127.0.0.1:9' });
    n1 = await NodeProcess.start({ name: 'n1', port, data: join(root, 'n1'), peers });
  });

  afterAll(async () => {
    await NodeProcess.stopAll();
    await removeDir(root);
  });

  test('status names the node and where it listens, by name or by host:port', async () => {
    const byName = await cli('--node', 'n1', 'status');
    expect(byName.code).toBe(0);
    expect(byName.stdout).toContain(`node n1 at 127.0.0.1:${port}: 0 session(s)`);
    const byAddress = await cli('--node', `127.0.0.1:${port}`, 'status', '--json');
    expect(JSON.parse(byAddress.stdout)).toMatchObject({ name: 'n1', address: `127.0.0.1:${port}`, sessions: [] });
  });

  test('RCP_config and .RCP_config add and delete peers', async () => {
    expect((await cli('--node', 'n1', 'RCP_config', 'n7', 'add', '127.0.0.1:7777')).stdout).toBe('n1: n7 is at 127.0.0.1:7777\n');
    expect((await cli('--node', 'n1', '.RCP_config', 'n8', 'add', '[::1]:7778')).code).toBe(0);
    expect((await config()).peers).toEqual({ n7: '127.0.0.1:7777', n8: '[::1]:7778' });
    expect((await cli('--node', 'n1', 'RCP_config', 'n8', 'delete')).code).toBe(0);
    expect((await config()).peers).toEqual({ n7: '127.0.0.1:7777' });
  });

  test('server_config rep makes the node the primary of a group: a multicast node and a route', async () => {
    // No --node: server_config goes to the node it names.
    const rep = await cli('server_config', 'n1', 'rep', 'g5', 'add', 'n2');
    expect(rep.stderr).toBe('');
    expect(rep.stdout).toBe('n1: group g5 sends to n2\n');
    expect((await routes()).g5).toEqual(['n2']);
    expect((await config()).multicastNodes).toEqual({ g5: { group: 'g5', destinations: ['n2'] } });
  });

  test('server_config "volmcast ..." in the seed\'s quoted form and as separate words', async () => {
    expect((await cli('--node', 'n1', '.server_config', 'n1', 'volmcast g5 -src vol1')).stdout).toBe('n1: volume vol1 is the source of multicast node g5\n');
    expect((await cli('server_config', 'n1', 'volmcast', 'g5', '-dest', 'vol2')).code).toBe(0);
    expect((await config()).volumeMulticasts).toEqual([
      { mcnode: 'g5', role: 'src', volume: 'vol1' },
      { mcnode: 'g5', role: 'dest', volume: 'vol2' },
    ]);
  });

  test('rcproute add, display and delete', async () => {
    expect((await cli('--node', 'n1', 'rcproute', 'add', 'group=g6', 'nexthop=n1')).stdout).toBe('n1: group g6 → n1\n');
    expect((await cli('--node', 'n1', 'rcproute', 'add', 'group=g6', 'nexthop=n1')).stdout).toBe('n1: group g6 already goes to n1\n');
    const display = await cli('--node', 'n1', 'rcproute', 'display');
    expect(display.stdout).toContain('group=g5 nexthop=n2\n');
    expect(display.stdout).toContain('group=g6 nexthop=n1\n');
    expect((await cli('--node', 'n1', 'rcproute', 'delete', 'group=g6')).stdout).toBe('n1: deleted group g6\n');
    expect((await routes()).g6).toBeUndefined();
  });

  test('configuration survives a restart', async () => {
    expect(await n1.stop()).toBe(0);
    n1 = await NodeProcess.start({ name: 'n1', port, data: join(root, 'n1'), peers });
    expect(await routes()).toEqual({ g5: ['n2'] });
    expect((await config()).peers).toEqual({ n7: '127.0.0.1:7777' });
  });

  test('bad input: a clear error with its code, and nothing changes', async () => {
    const before = JSON.stringify(await config());
    const cases: [string[], number, RegExp][] = [
      [['--node', 'n1', 'RCP_config', 'n9', 'add', 'not-an-address'], 1, /ERR_INVALID_ARGUMENT/],
      [['--node', 'n1', 'RCP_config', 'bad name', 'add', '127.0.0.1:1'], 1, /ERR_INVALID_ARGUMENT/],
      [['--node', 'n1', 'RCP_config', 'n9', 'delete'], 1, /no peer n9 was added with RCP_config \[ERR_NOT_FOUND\]/],
      [['--node', 'n1', 'rcproute', 'add', 'group=g7', 'nexthop=n9'], 1, /next hop "n9" is neither a known peer .*\[ERR_NOT_FOUND\]/],
      [['--node', 'n1', 'server_config', 'n2', 'rep', 'g7', 'add', 'n1'], 2, /names node n2, but n1 is node n1/],
      [['--node', 'n1', 'server_config', 'n1', 'volmcast', 'nosuch', '-src', 'v'], 1, /no multicast node nosuch/],
      [['--node', 'n1', 'server_config', 'n1', 'rep', 'g7'], 2, /expected: rep <group> add <address>/],
      [['--node', 'n1', 'rcproute', 'add', 'group=bad/name', 'nexthop=n2'], 1, /ERR_INVALID_ARGUMENT/],
      [['--node', 'n1', 'rcproute', 'add', 'group=g7'], 2, /needs group=<g> nexthop=<node>/],
      [['--node', 'n1', 'rcproute', 'delete', 'group=nosuch'], 1, /ERR_NOT_FOUND/],
      [['--node', 'n1', 'rcptest', 'data=/nonexistent/file', 'group=g5'], 1, /ERR_NOT_FOUND/],
      [['--node', 'n1', 'rcptest', 'data=' + peers, 'group=nosuch'], 1, /ERR_UNKNOWN_GROUP/],
      [['--node', 'n3', 'status'], 1, /node n3 is not in peers file .* \[ERR_NOT_FOUND\]/],
      [['rcproute', 'display'], 2, /give --node/],
      [['--node', 'n1', '--token', 'wrong', 'status'], 1, /ERR_AUTH/],
    ];
    for (const [args, code, message] of cases) {
      const result = await cli(...args);
      expect(result.code, args.join(' ')).toBe(code);
      expect(result.stderr, args.join(' ')).toMatch(message);
      // One line, and usage errors carry their code like every other failure.
      expect(result.stderr, args.join(' ')).toMatch(code === 2 ? /^[^\n]* \[ERR_USAGE\]\n$/ : /^[^\n]* \[ERR_[A-Z_]+\]\n$/);
    }
    expect(JSON.stringify(await config())).toBe(before);
  });

  test('a second node on the same data directory is refused while the first runs', async () => {
    await expect(NodeProcess.start({ name: 'n1', port: 0, data: join(root, 'n1'), peers })).rejects.toThrow(/ERR_LOCKED/);
  });
});
