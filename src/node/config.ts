// A node's persistent configuration, in <data>/node/config.json, replaced atomically on
// every change: peers added with RCP_config, the RCP routing table, the multicast nodes
// and volume multicast relations of server_config.

import { join } from 'node:path';
import { corrupt, invalidArgument, notFound } from '../errors.js';
import { isNodeName } from '../rcp/handshake.js';
import { checkGroupName, type Routes, RoutingTable } from '../rcp/routing.js';
import { readFileOrUndefined, writeFileAtomic } from '../storage/file.js';
import { parseAddress } from './address.js';

/** The seed's MultiCastNode: this node is the primary of `group`, broadcasting to `destinations`. */
export interface MulticastNode {
  group: string;
  destinations: string[];
}

/** The seed's VolMCast: a volume replicated over a multicast node, as source or destination here. */
export interface VolumeMulticast {
  mcnode: string;
  role: 'src' | 'dest';
  volume: string;
}

export interface NodeConfigData {
  peers: Record<string, string>;
  routes: Routes;
  multicastNodes: Record<string, MulticastNode>;
  volumeMulticasts: VolumeMulticast[];
}

function empty(): NodeConfigData {
  return { peers: {}, routes: {}, multicastNodes: {}, volumeMulticasts: [] };
}

export class NodeConfig {
  readonly path: string;
  readonly routing: RoutingTable;
  #data: NodeConfigData;

  private constructor(path: string, data: NodeConfigData) {
    this.path = path;
    this.#data = data;
    this.routing = new RoutingTable(data.routes);
  }

  static async load(nodeDir: string): Promise<NodeConfig> {
    const path = join(nodeDir, 'config.json');
    const bytes = await readFileOrUndefined(path);
    if (!bytes) return new NodeConfig(path, empty());
    let data: NodeConfigData;
    try {
      data = { ...empty(), ...JSON.parse(new TextDecoder().decode(bytes)) };
    } catch {
      throw corrupt(`${path} is not JSON`);
    }
    return new NodeConfig(path, data);
  }

  get peers(): Readonly<Record<string, string>> {
    return this.#data.peers;
  }

  get multicastNodes(): Readonly<Record<string, MulticastNode>> {
    return this.#data.multicastNodes;
  }

  get volumeMulticasts(): readonly VolumeMulticast[] {
    return this.#data.volumeMulticasts;
  }

  toJSON(): NodeConfigData {
    return { ...this.#data, routes: this.routing.toJSON() };
  }

  async addPeer(name: string, address: string): Promise<void> {
    if (!isNodeName(name)) throw invalidArgument(`bad node name ${JSON.stringify(name)}`);
    parseAddress(address, `node ${name}'s address`);
    this.#data.peers = { ...this.#data.peers, [name]: address };
    await this.save();
  }

  async deletePeer(name: string): Promise<void> {
    if (!(name in this.#data.peers)) throw notFound(`no peer ${name} was added with RCP_config`);
    const { [name]: _, ...rest } = this.#data.peers;
    this.#data.peers = rest;
    await this.save();
  }

  /**
   * rcproute add: a next hop must be one this node can dial (a peer by name, or host:port)
   * or the node itself, so a typo is refused here instead of failing every later session.
   * Returns false when the route was already there.
   */
  async addRoute(group: string, nextHop: string, canReach: (hop: string) => boolean): Promise<boolean> {
    checkGroupName(group);
    if (!canReach(nextHop)) {
      throw notFound(`next hop ${JSON.stringify(nextHop)} is neither a known peer (peers file or RCP_config) nor host:port`);
    }
    const added = this.routing.add(group, nextHop);
    if (added) await this.save();
    return added;
  }

  /** server_config <node> rep <group> add <address>: a destination of this node's multicast group. */
  async addMulticastDestination(group: string, destination: string): Promise<void> {
    checkGroupName(group);
    const node = this.#data.multicastNodes[group] ?? { group, destinations: [] };
    if (!node.destinations.includes(destination)) node.destinations = [...node.destinations, destination];
    this.#data.multicastNodes = { ...this.#data.multicastNodes, [group]: node };
    this.routing.add(group, destination);
    await this.save();
  }

  async addVolumeMulticast(entry: VolumeMulticast): Promise<void> {
    if (!this.#data.multicastNodes[entry.mcnode]) {
      throw invalidArgument(`no multicast node ${entry.mcnode} here (define it with server_config <node> rep ${entry.mcnode} add <address>)`);
    }
    const others = this.#data.volumeMulticasts.filter((v) => !(v.mcnode === entry.mcnode && v.volume === entry.volume));
    this.#data.volumeMulticasts = [...others, entry];
    await this.save();
  }

  async save(): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(this.toJSON(), null, 2)}\n`);
  }
}
