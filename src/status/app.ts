// The status application: a live page at / (behind the node's token, via a login form),
// its data as JSON and server-sent events, and Prometheus metrics at /metrics.
//
//   GET  /                      the page (without a valid credential: the login form, 401; a read-only one: 403)
//   POST /login   token=<t>     sets the snapcopy_token cookie and goes to / (wrong token: 401; read-only: 403)
//   POST /logout                forgets the cookie
//   GET  /status/app.js, app.css, uplot.js, uplot.css   the page's files (app.css also before login)
//   GET  /v1/status/snapshot    everything the page shows, as JSON
//   GET  /v1/status/events      the same as server-sent events (every 2 s, and on change)
//   GET  /metrics               Prometheus text format 0.0.4
//
// Only the node token opens these: a read-only distribution token gets 403.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Access, credentialOf } from '../node/access.js';
import type { NodeApp, NodeAppHost, RunningApp } from '../node/apps.js';
import { sendError, sendJson } from '../node/volume-api.js';
import { ASSETS, assetBytes } from './assets.js';
import { EventStreams } from './events.js';
import { History, SAMPLE_EVERY_MS } from './history.js';
import { login, loginPage, logout, READ_ONLY_MESSAGE, SECURITY_HEADERS, sendHtml } from './login.js';
import { registerNodeMetrics } from './node-metrics.js';
import { buildSnapshot, changeKey, replicationOf, type Snapshot } from './snapshot.js';

export const STATUS_APP = 'status';
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const PATHS = new Set([...Object.keys(ASSETS), '/v1/status/snapshot', '/v1/status/events', '/metrics']);
const PUBLIC_ASSET = '/status/app.css';

const isRead = (request: IncomingMessage) => request.method === 'GET' || request.method === 'HEAD';

async function sendAsset(request: IncomingMessage, response: ServerResponse, pathname: string): Promise<void> {
  const bytes = await assetBytes(pathname);
  response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': ASSETS[pathname]!.type, 'content-length': bytes.byteLength });
  response.end(request.method === 'HEAD' ? undefined : bytes);
}

class StatusApp implements RunningApp {
  readonly #host: NodeAppHost;
  readonly #history = new History();
  readonly #events: EventStreams<Snapshot>;
  readonly #sampler: ReturnType<typeof setInterval>;

  constructor(host: NodeAppHost) {
    this.#host = host;
    registerNodeMetrics(host);
    this.#events = new EventStreams({ take: () => this.#snapshot(), changeKey });
    this.#sampler = setInterval(() => void this.#sample(), SAMPLE_EVERY_MS);
    (this.#sampler as { unref?: () => void }).unref?.();
  }

  publicHttp(request: IncomingMessage, response: ServerResponse, url: URL): boolean {
    const path = url.pathname;
    if (request.method === 'POST' && path === '/login') {
      void login(this.#host, request, response).catch((error) => sendError(response, error));
      return true;
    }
    if (request.method === 'POST' && path === '/logout') {
      request.resume();
      logout(response);
      return true;
    }
    if (isRead(request) && path === PUBLIC_ASSET) {
      request.resume();
      void sendAsset(request, response, path).catch((error) => sendError(response, error));
      return true;
    }
    if (isRead(request) && path === '/') {
      // Without the node token the page is the login form: 401 for no valid credential, 403 for a read-only one.
      const credential = credentialOf(request);
      const access = this.#host.checkCredential(credential);
      if (access?.kind === 'node') return false;
      request.resume();
      if (access) sendHtml(response, 403, loginPage(READ_ONLY_MESSAGE));
      else sendHtml(response, 401, loginPage(credential ? 'That token is no longer valid on this node: log in again.' : undefined));
      return true;
    }
    return false;
  }

  http(request: IncomingMessage, response: ServerResponse, url: URL, access: Access): boolean {
    const path = url.pathname;
    if (!PATHS.has(path)) return false;
    request.resume();
    if (access.kind !== 'node') {
      sendJson(response, 403, { code: 'ERR_FORBIDDEN', message: 'the status page and metrics need the node token' });
    } else if (!isRead(request)) {
      sendJson(response, 405, { code: 'ERR_NOT_FOUND', message: `no ${request.method} ${path}` });
    } else {
      void this.#serve(request, response, path).catch((error) => sendError(response, error));
    }
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.#sampler);
    this.#events.close();
  }

  async #serve(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    if (path === '/v1/status/events') {
      if (request.method === 'GET') return this.#events.open(request, response);
      response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
      response.end(); // HEAD: the stream's headers, no stream held open
      return;
    }
    if (path === '/v1/status/snapshot') {
      const body = `${JSON.stringify(await this.#snapshot())}\n`;
      response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      response.end(request.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/metrics') {
      const body = await this.#host.metrics.render();
      response.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      response.end(request.method === 'HEAD' ? undefined : body);
      return;
    }
    return sendAsset(request, response, path);
  }

  #snapshot(): Promise<Snapshot> {
    return buildSnapshot(this.#host, this.#history);
  }

  async #sample(): Promise<void> {
    try {
      this.#history.sample((await replicationOf(this.#host)).primaries, Date.now());
    } catch {
      // Replication closing under the sampler: the next sample will do.
    }
  }
}

/** The status page and /metrics (listed in DEFAULT_APPS). */
export const statusApp: NodeApp = {
  name: STATUS_APP,
  async start(host) {
    return new StatusApp(host);
  },
};
