// The peers file: the nodes of a deployment and the secret they share.
//   { "secret": "...", "nodes": { "n1": "127.0.0.1:7001", "n2": "[::1]:7002" } }
// Nodes authenticate each other with the secret; the CLI derives the HTTP token from it.

import { promises as fs } from 'node:fs';
import { SnapcopyError } from '../errors.js';
import { isNodeName } from '../rcp/handshake.js';
import { parseAddress } from './address.js';

export interface Peers {
  secret: string;
  nodes: Record<string, string>;
}

export function parsePeers(text: string, source: string): Peers {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SnapcopyError('ERR_INVALID_ARGUMENT', `${source} is not JSON`);
  }
  const object = value as { secret?: unknown; nodes?: unknown };
  if (typeof object !== 'object' || object === null || typeof object.secret !== 'string' || object.secret.length < 16) {
    throw new SnapcopyError('ERR_INVALID_ARGUMENT', `${source} needs a "secret" of at least 16 characters`);
  }
  const nodes: Record<string, string> = {};
  const listed = object.nodes ?? {};
  if (typeof listed !== 'object' || listed === null || Array.isArray(listed)) {
    throw new SnapcopyError('ERR_INVALID_ARGUMENT', `${source}: "nodes" must map node names to host:port`);
  }
  for (const [name, address] of Object.entries(listed)) {
    if (!isNodeName(name)) throw new SnapcopyError('ERR_INVALID_ARGUMENT', `${source}: bad node name ${JSON.stringify(name)}`);
    if (typeof address !== 'string') throw new SnapcopyError('ERR_INVALID_ARGUMENT', `${source}: node ${name} needs a host:port`);
    parseAddress(address, `${source}: node ${name}'s address`);
    nodes[name] = address;
  }
  return { secret: object.secret, nodes };
}

export async function readPeers(path: string): Promise<Peers> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (error) {
    throw new SnapcopyError('ERR_NOT_FOUND', `cannot read peers file ${path}: ${(error as Error).message}`);
  }
  return parsePeers(text, `peers file ${path}`);
}
