// How the CLI reaches a node's HTTP control API: by name (through the peers file) or by
// host:port, with the bearer token derived from the peers file's secret or given as is.

import * as http from 'node:http';
import { SnapcopyError, type SnapcopyErrorCode } from '../errors.js';
import { httpTokenOf } from '../rcp/auth.js';
import { isAddress, parseAddress } from './address.js';
import { readPeers } from './peers.js';

export interface NodeTarget {
  /** The name the user gave, or the address. */
  label: string;
  address: string;
  token: string;
}

export async function resolveNode(spec: string, options: { peersPath?: string; token?: string }): Promise<NodeTarget> {
  const peers = options.peersPath ? await readPeers(options.peersPath) : undefined;
  let address = spec;
  if (!isAddress(spec)) {
    if (!peers) throw new SnapcopyError('ERR_INVALID_ARGUMENT', `node ${spec} is a name: give --peers <file> (or SNAPCOPY_PEERS) to look it up, or use host:port`);
    const found = peers.nodes[spec];
    if (!found) throw new SnapcopyError('ERR_NOT_FOUND', `node ${spec} is not in peers file ${options.peersPath}`);
    address = found;
  }
  const token = options.token ?? (peers ? await httpTokenOf(peers.secret) : undefined);
  if (!token) throw new SnapcopyError('ERR_INVALID_ARGUMENT', 'a node needs a token: give --peers <file> (its secret) or --token');
  return { label: spec, address, token };
}

/** One JSON request; a non-2xx answer becomes the SnapcopyError the node reported. */
export function callNode(target: NodeTarget, method: string, path: string, body?: unknown): Promise<unknown> {
  const { host, port } = parseAddress(target.address, 'node address');
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request({
      host, port, method, path,
      headers: {
        authorization: `Bearer ${target.token}`,
        ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
      },
    }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        let value: { code?: string; message?: string } | undefined;
        try {
          value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          reject(new SnapcopyError('ERR_PROTOCOL', `node ${target.label} answered ${response.statusCode} with no JSON`));
          return;
        }
        if ((response.statusCode ?? 500) >= 300) {
          reject(new SnapcopyError((value?.code ?? 'ERR_IO') as SnapcopyErrorCode, `node ${target.label}: ${value?.message ?? response.statusCode}`));
        } else resolve(value);
      });
      response.on('error', reject);
    });
    request.on('error', (error) => reject(new SnapcopyError('ERR_UNREACHABLE', `node ${target.label} at ${target.address}: ${error.message}`)));
    request.end(payload);
  });
}
