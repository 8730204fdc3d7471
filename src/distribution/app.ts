// Distribution as a node application: the versions paths (serve.ts) and the read-only
// tokens that open them (`snapcopy token create|list|revoke`, node token only):
//
//   POST   /v1/tokens  {volume}   a read-only token for one volume's versions (shown once)
//   GET    /v1/tokens             the tokens: id, volume, created (never the token)
//   DELETE /v1/tokens/<id>        revoke one

import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { SnapcopyError } from '../errors.js';
import type { NodeApp, NodeAppHost } from '../node/apps.js';
import type { Access } from '../node/access.js';
import { readJson, sendError, sendJson, text } from '../node/volume-api.js';
import { VersionServer } from './serve.js';
import { Spool } from './spool.js';

export interface DistributionOptions {
  /** Bytes of spooled streams kept under <data>/node/versions-cache (default 1 GiB). */
  cacheBytes?: number;
}

export const DEFAULT_CACHE_BYTES = 1 << 30;

/** The token routes; false for other paths. */
function tokenRoutes(host: NodeAppHost, request: IncomingMessage, response: ServerResponse, url: URL, access: Access): boolean {
  const one = /^\/v1\/tokens\/([^/]+)$/.exec(url.pathname);
  if (url.pathname !== '/v1/tokens' && !one) return false;
  const answer = async (): Promise<unknown> => {
    if (access.kind !== 'node') throw new SnapcopyError('ERR_FORBIDDEN', 'only the node token manages tokens');
    if (one && request.method === 'DELETE') {
      request.resume();
      const id = decodeURIComponent(one[1]!);
      await host.tokens.revoke(id);
      return { revoked: id };
    }
    if (!one && request.method === 'POST') {
      const volume = text(await readJson(request), 'volume');
      await host.dir.info(volume); // a token for a volume that does not exist is a typo
      return host.tokens.create(volume);
    }
    if (!one && request.method === 'GET') {
      request.resume();
      return { tokens: host.tokens.list() };
    }
    request.resume();
    throw new SnapcopyError('ERR_NOT_FOUND', `no ${request.method} ${url.pathname}`);
  };
  answer().then((value) => sendJson(response, 200, value), (error: unknown) => sendError(response, error));
  return true;
}

export function distributionAppWith(options: DistributionOptions = {}): NodeApp {
  return {
    name: 'distribution',
    async start(host) {
      const spool = await Spool.open(join(host.dataPath, 'node', 'versions-cache'), options.cacheBytes ?? DEFAULT_CACHE_BYTES);
      const server = new VersionServer(host.dir, spool, host.metrics);
      return {
        http: (request, response, url, access) => server.handle(request, response, url) || tokenRoutes(host, request, response, url, access),
        checkDelete: async (fs, checkpoint) => server.checkDelete(fs, checkpoint),
        close: async () => undefined,
      };
    },
  };
}

/** Versions of a node's volumes for `pull`, and read-only tokens for them. */
export const distributionApp: NodeApp = distributionAppWith();
