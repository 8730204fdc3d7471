// The HTTP control API of a node (JSON over HTTP/1.1, bearer token). The CLI's --node
// commands use it; each route validates, then calls the node.
//
//   GET    /v1/status                       name, address, sessions
//   GET    /v1/config                       peers, routes, multicast nodes, volume multicasts
//   POST   /v1/peers      {name, address}   RCP_config <name> add <address>
//   DELETE /v1/peers/<name>                 RCP_config <name> delete
//   GET    /v1/routes                       rcproute display
//   POST   /v1/routes     {group, nexthop}  rcproute add
//   DELETE /v1/routes[?group=g]             rcproute delete
//   POST   /v1/multicast  {group, destination}        server_config <node> rep <group> add <address>
//   POST   /v1/volmcast   {mcnode, role, volume}      server_config <node> "volmcast ..."
//   POST   /v1/rcptest?group=g&name=f&size=n   rcptest data=<file> group=<g>; the body is the file's n bytes

import type { IncomingMessage, ServerResponse } from 'node:http';
import { SnapcopyError } from '../errors.js';
import { allows, credentialOf } from './access.js';
import { uploadOfRequest } from './rcptest.js';
import type { NodeServer } from './server.js';
import { readJson, sendJson, STATUS_OF_CODE } from './volume-api.js';


type Handler = (node: NodeServer, body: Record<string, unknown>, url: URL, params: string[], request: IncomingMessage) => Promise<unknown>;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
  /** The handler reads the request body itself (not parsed as JSON, not limited in size). */
  streamsBody?: boolean;
}

function text(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value.length === 0) throw new SnapcopyError('ERR_INVALID_ARGUMENT', `"${name}" is required`);
  return value;
}

const ROUTES: Route[] = [
  { method: 'GET', pattern: /^\/v1\/status$/, handler: async (node) => node.status() },
  { method: 'GET', pattern: /^\/v1\/config$/, handler: async (node) => node.config.toJSON() },
  {
    method: 'POST', pattern: /^\/v1\/peers$/,
    handler: async (node, body) => {
      await node.config.addPeer(text(body, 'name'), text(body, 'address'));
      return { peers: node.config.peers };
    },
  },
  {
    method: 'DELETE', pattern: /^\/v1\/peers\/([^/]+)$/,
    handler: async (node, _body, _url, [name]) => {
      await node.config.deletePeer(decodeURIComponent(name!));
      return { peers: node.config.peers };
    },
  },
  { method: 'GET', pattern: /^\/v1\/routes$/, handler: async (node) => ({ routes: node.config.routing.toJSON() }) },
  {
    method: 'POST', pattern: /^\/v1\/routes$/,
    handler: async (node, body) => {
      const added = await node.config.addRoute(text(body, 'group'), text(body, 'nexthop'), (hop) => node.rcp.canReach(hop));
      return { added, routes: node.config.routing.toJSON() };
    },
  },
  {
    method: 'DELETE', pattern: /^\/v1\/routes$/,
    handler: async (node, _body, url) => {
      const deleted = node.config.routing.delete(url.searchParams.get('group') ?? undefined);
      await node.config.save();
      return { deleted, routes: node.config.routing.toJSON() };
    },
  },
  {
    method: 'POST', pattern: /^\/v1\/multicast$/,
    handler: async (node, body) => {
      await node.config.addMulticastDestination(text(body, 'group'), text(body, 'destination'));
      return { multicastNodes: node.config.multicastNodes, routes: node.config.routing.toJSON() };
    },
  },
  {
    method: 'POST', pattern: /^\/v1\/volmcast$/,
    handler: async (node, body) => {
      const role = text(body, 'role');
      if (role !== 'src' && role !== 'dest') throw new SnapcopyError('ERR_INVALID_ARGUMENT', 'role must be src or dest');
      await node.config.addVolumeMulticast({ mcnode: text(body, 'mcnode'), role, volume: text(body, 'volume') });
      return { volumeMulticasts: node.config.volumeMulticasts };
    },
  },
  {
    // The body is the file's bytes, streamed to the session as they arrive (no JSON, no size limit).
    method: 'POST', pattern: /^\/v1\/rcptest$/, streamsBody: true,
    handler: async (node, _body, url, _params, request) => node.rcptest(uploadOfRequest(url, request.headers['content-length'], request)),
  },
];




/** The request listener of a node's HTTP side. */
export function httpApi(node: NodeServer, token: string): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://node');
      if (node.apps.some((app) => app.publicHttp?.(request, response, url))) return;
      const access = node.tokens.accessOf(credentialOf(request), token);
      if (!access) {
        request.resume();
        sendJson(response, 401, { code: 'ERR_AUTH', message: 'a valid bearer token is required' });
        return;
      }
      if (!allows(access, request.method ?? 'GET', url.pathname)) {
        request.resume();
        sendJson(response, 403, { code: 'ERR_FORBIDDEN', message: `a read-only token for ${access.kind === 'read-only' ? access.volume : ''} may only read that volume's versions` });
        return;
      }
      if (node.volumeApi(request, response, url)) return;
      if (node.apps.some((app) => app.http?.(request, response, url, access))) return;
      const matches = ROUTES.filter((r) => r.pattern.test(url.pathname));
      const route = matches.find((r) => r.method === request.method);
      if (!route) {
        request.resume();
        sendJson(response, matches.length ? 405 : 404, { code: 'ERR_NOT_FOUND', message: `no ${request.method} ${url.pathname}` });
        return;
      }
      try {
        const params = route.pattern.exec(url.pathname)!.slice(1);
        const body = route.streamsBody ? {} : await readJson(request);
        sendJson(response, 200, await route.handler(node, body, url, params, request));
      } catch (error) {
        const e = error as SnapcopyError;
        const status = e instanceof SnapcopyError ? (STATUS_OF_CODE[e.code] ?? 500) : 500;
        sendJson(response, status, { code: e.code ?? 'ERR_IO', message: e.message });
      }
    })();
  };
}
