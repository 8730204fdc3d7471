// RCP routing table (FIG. 16–17): per group, the next hops this node sends to. A next hop
// that names this node itself means "deliver here too" (the seed's local replication).
// Pure data; the node persists it.

import { invalidArgument, notFound } from '../errors.js';

const GROUP = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkGroupName(group: string): string {
  if (!GROUP.test(group)) throw invalidArgument(`group name ${JSON.stringify(group)}: use letters, digits, ".", "_" or "-" (at most 64)`);
  return group;
}

export type Routes = Record<string, string[]>;

export class RoutingTable {
  readonly #routes = new Map<string, string[]>();

  constructor(routes: Routes = {}) {
    for (const [group, hops] of Object.entries(routes)) this.#routes.set(checkGroupName(group), [...hops]);
  }

  nextHops(group: string): readonly string[] {
    return this.#routes.get(group) ?? [];
  }

  has(group: string): boolean {
    return this.#routes.has(group);
  }

  /** Adds a next hop; returns false when it was already there. */
  add(group: string, nextHop: string): boolean {
    checkGroupName(group);
    if (!nextHop) throw invalidArgument('a next hop needs a node name or host:port');
    const hops = this.#routes.get(group) ?? [];
    if (hops.includes(nextHop)) return false;
    this.#routes.set(group, [...hops, nextHop]);
    return true;
  }

  /** Deletes one group's entry, or with no group every entry; returns the groups deleted. */
  delete(group?: string): string[] {
    if (group === undefined) {
      const all = [...this.#routes.keys()];
      this.#routes.clear();
      return all;
    }
    if (!this.#routes.delete(group)) throw notFound(`no route for group ${group}`);
    return [group];
  }

  toJSON(): Routes {
    return Object.fromEntries([...this.#routes].map(([group, hops]) => [group, [...hops]]));
  }
}
