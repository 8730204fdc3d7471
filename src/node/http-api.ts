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
import { SnapcopyError, type SnapcopyErrorCode } from '../errors.js';
import { sameText } from '../rcp/auth.js';
import { uploadOfRequest } from './rcptest.js';
import type { NodeServer } from './server.js';

const MAX_BODY_BYTES = 64 * 1024;

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

const STATUS_OF: Partial<Record<SnapcopyErrorCode, number>> = {
  ERR_INVALID_ARGUMENT: 400,
  ERR_AUTH: 401,
  ERR_NOT_FOUND: 404,
  ERR_UNKNOWN_GROUP: 404,
  ERR_EXISTS: 409,
  ERR_CLOSED: 503,
};

function send(response: ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value)}\n`;
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

async function readBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request) {
    bytes += (chunk as Buffer).byteLength;
    if (bytes > MAX_BODY_BYTES) throw new SnapcopyError('ERR_INVALID_ARGUMENT', `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (bytes === 0) return {};
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  } catch {
    // reported below
  }
  throw new SnapcopyError('ERR_INVALID_ARGUMENT', 'the request body must be a JSON object');
}

/** The request listener of a node's HTTP side. */
export function httpApi(node: NodeServer, token: string): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://node');
      const given = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
      if (!sameText(given, token)) {
        request.resume();
        send(response, 401, { code: 'ERR_AUTH', message: 'a valid bearer token is required' });
        return;
      }
      if (node.volumeApi(request, response, url)) return;
      if (node.apps.some((app) => app.http?.(request, response, url))) return;
      const matches = ROUTES.filter((r) => r.pattern.test(url.pathname));
      const route = matches.find((r) => r.method === request.method);
      if (!route) {
        request.resume();
        send(response, matches.length ? 405 : 404, { code: 'ERR_NOT_FOUND', message: `no ${request.method} ${url.pathname}` });
        return;
      }
      try {
        const params = route.pattern.exec(url.pathname)!.slice(1);
        const body = route.streamsBody ? {} : await readBody(request);
        send(response, 200, await route.handler(node, body, url, params, request));
      } catch (error) {
        const e = error as SnapcopyError;
        const status = e instanceof SnapcopyError ? (STATUS_OF[e.code] ?? 500) : 500;
        send(response, status, { code: e.code ?? 'ERR_IO', message: e.message });
      }
    })();
  };
}
