// The node's volume API: its VolumeStore over HTTP, so every volume command runs on
// the node with --node and streams its data through the node's one port. The client
// is src/node/volume-client.ts; both sides speak through these paths (bearer token
// checked by http-api.ts before anything here runs):
//
//   GET    /v1/volumes                              list
//   POST   /v1/volumes            {name, size, blockSize?, granularity?}     create
//   GET    /v1/volumes/<fs>                         info
//   DELETE /v1/volumes/<fs>[?recursive=1]           destroy
//   POST   /v1/volumes/<fs>/rename {to}             rename
//   POST   /v1/volumes/<fs>/resize {size}           resize
//   POST   /v1/volumes/<fs>/mode {mode}             server_mount: rw, ro or raw
//   PUT    /v1/volumes/<fs>/data?offset=n[&size=n]  write (the body is the bytes; one atomic change)
//   GET    /v1/volumes/<fs>/data?offset=n[&length=n][&checkpoint=c]   read (content-length known up front)
//   POST   /v1/volumes/<fs>/discard {offset, length}
//   GET    /v1/volumes/<fs>/checkpoints             list checkpoints
//   POST   /v1/volumes/<fs>/checkpoints {name?}     create a checkpoint
//   DELETE /v1/checkpoints/<spec>[?volume=fs]       delete a checkpoint (fs@name, or a bare name)
//   POST   /v1/volumes/<fs>/restore {checkpoint}
//   GET    /v1/volumes/<fs>/diff-size?older=&newer=
//   GET    /v1/volumes/<fs>/diff?older=&newer=      extents, one JSON object a line
//   GET    /v1/volumes/<fs>/export?older=&newer=    a delta stream (older left out: a full stream);
//                                                   header x-snapcopy-delta-size: the exact size, JSON
//   POST   /v1/volumes/<fs>/import[?rollback=1][&replica=1]   the body is a delta stream; creates <fs> from
//                                                   a full one (replica=1: into a read-only or raw volume, a rebuild)
//   POST   /v1/clone              {checkpoint, fs}
//   POST   /v1/fs-copy            {newer, target, older}
//
// A stream that fails part-way is cut off (the connection is destroyed), never ended
// cleanly: the client then knows it did not get all of it.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { SnapcopyError, type SnapcopyErrorCode, invalidArgument } from '../errors.js';
import type { VolumeStore } from '../volume/store.js';
import type { VolumeMode } from '../volume/volume.js';

const MAX_JSON_BYTES = 64 * 1024;

export type Reply = (request: IncomingMessage, response: ServerResponse, url: URL, params: string[]) => Promise<void>;

export interface Route {
  method: string;
  pattern: RegExp;
  reply: Reply;
}

export const STATUS_OF_CODE: Partial<Record<SnapcopyErrorCode, number>> = {
  ERR_INVALID_ARGUMENT: 400,
  ERR_OUT_OF_RANGE: 400,
  ERR_USAGE: 400,
  ERR_AUTH: 401,
  ERR_FORBIDDEN: 403,
  ERR_NOT_FOUND: 404,
  ERR_UNKNOWN_GROUP: 404,
  ERR_EXISTS: 409,
  ERR_AMBIGUOUS: 409,
  ERR_HAS_CHECKPOINTS: 409,
  ERR_IN_USE: 409,
  ERR_WRONG_BASE: 409,
  ERR_NOT_YOUNGER: 409,
  ERR_LOCKED: 423,
  ERR_READ_ONLY: 409,
  ERR_RAW: 409,
  ERR_FAILED_OVER: 409,
  ERR_CORRUPT: 422,
  ERR_NO_SPACE: 507,
  ERR_CLOSED: 503,
};

export function sendJson(response: ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value)}\n`;
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

export function sendError(response: ServerResponse, error: unknown): void {
  const e = error as SnapcopyError;
  if (response.headersSent) {
    response.destroy(e instanceof Error ? e : undefined); // cut off: the client sees a stream that broke
    return;
  }
  const status = e instanceof SnapcopyError ? (STATUS_OF_CODE[e.code] ?? 500) : 500;
  sendJson(response, status, { code: e.code ?? 'ERR_IO', message: e.message ?? String(error) });
}

export async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request) {
    bytes += (chunk as Buffer).byteLength;
    if (bytes > MAX_JSON_BYTES) throw invalidArgument(`request bodies are limited to ${MAX_JSON_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (bytes === 0) return {};
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  } catch {
    // reported below
  }
  throw invalidArgument('the request body must be a JSON object');
}

export function text(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value === '') throw invalidArgument(`"${name}" is required`);
  return value;
}

export function optionalText(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') throw invalidArgument(`"${name}" must be a non-empty string`);
  return value;
}

export function wholeNumber(value: unknown, name: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalidArgument(`"${name}" must be a whole number`);
  return n;
}

function optionalNumber(value: unknown, name: string): number | undefined {
  return value === undefined || value === null ? undefined : wholeNumber(value, name);
}

export const param = (url: URL, name: string): string | undefined => url.searchParams.get(name) ?? undefined;

/** Writes pieces with back-pressure; a failure part-way cuts the response off. */
async function streamOut(response: ServerResponse, pieces: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const piece of pieces) {
    if (response.destroyed) throw new SnapcopyError('ERR_CLOSED', 'the client went away');
    // Pieces may share a buffer with the next one: wait until this one is handed to the socket.
    await new Promise<void>((resolve, reject) => response.write(piece, (error) => (error ? reject(error) : resolve())));
  }
  response.end();
}

export const json = (handler: (body: Record<string, unknown>, url: URL, params: string[]) => Promise<unknown>): Reply =>
  async (request, response, url, params) => {
    const body = request.method === 'GET' || request.method === 'DELETE' ? (request.resume(), {}) : await readJson(request);
    sendJson(response, 200, (await handler(body, url, params)) ?? {});
  };

function routes(store: VolumeStore, options: VolumeApiOptions): Route[] {
  const fsRoute = (method: string, tail: string, reply: Reply): Route => ({
    method, pattern: new RegExp(`^/v1/volumes/([^/]+)${tail}$`), reply,
  });
  return [
    { method: 'GET', pattern: /^\/v1\/volumes$/, reply: json(() => store.list()) },
    {
      method: 'POST', pattern: /^\/v1\/volumes$/,
      reply: json((body) => store.create(text(body, 'name'), {
        size: wholeNumber(body.size, 'size'),
        blockSize: optionalNumber(body.blockSize, 'blockSize'),
        granularity: optionalNumber(body.granularity, 'granularity'),
      })),
    },
    fsRoute('GET', '', json((_b, _u, [fs]) => store.info(fs!))),
    fsRoute('DELETE', '', json((_b, url, [fs]) => store.destroy(fs!, { recursive: param(url, 'recursive') === '1' }))),
    fsRoute('POST', '/rename', json(async (body, _u, [fs]) => store.rename(fs!, text(body, 'to')))),
    fsRoute('POST', '/resize', json((body, _u, [fs]) => store.resize(fs!, wholeNumber(body.size, 'size')))),
    fsRoute('POST', '/mode', json(async (body, _u, [fs]) => {
      const mode = text(body, 'mode') as VolumeMode;
      await options.checkMode?.(fs!, mode);
      return store.setMode(fs!, mode);
    })),
    fsRoute('PUT', '/data', async (request, response, url, [fs]) => {
      const offset = wholeNumber(param(url, 'offset') ?? '0', 'offset');
      const size = optionalNumber(param(url, 'size'), 'size');
      const bytes = await store.write(fs!, offset, request as AsyncIterable<Uint8Array>, size);
      sendJson(response, 200, { bytes });
    }),
    fsRoute('GET', '/data', async (request, response, url, [fs]) => {
      request.resume();
      const checkpoint = param(url, 'checkpoint');
      const spec = checkpoint ? `${fs!}@${checkpoint}` : fs!;
      const read = await store.read(spec, wholeNumber(param(url, 'offset') ?? '0', 'offset'), optionalNumber(param(url, 'length'), 'length'));
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': read.bytes });
      await streamOut(response, read.pieces);
    }),
    fsRoute('POST', '/discard', json(async (body, _u, [fs]) => store.discard(fs!, wholeNumber(body.offset, 'offset'), wholeNumber(body.length, 'length')))),
    fsRoute('GET', '/checkpoints', json((_b, _u, [fs]) => store.listCheckpoints(fs!))),
    fsRoute('POST', '/checkpoints', json((body, _u, [fs]) => store.createCheckpoint(fs!, optionalText(body, 'name')))),
    {
      method: 'DELETE', pattern: /^\/v1\/checkpoints\/([^/]+)$/,
      reply: json(async (_b, url, [spec]) => {
        await options.checkDelete?.(spec!, param(url, 'volume'));
        return { deleted: await store.deleteCheckpoint(spec!, param(url, 'volume')) };
      }),
    },
    fsRoute('POST', '/restore', json(async (body, _u, [fs]) => ({ restored: await store.restore(fs!, text(body, 'checkpoint')) }))),
    fsRoute('GET', '/diff-size', json((_b, url, [fs]) => store.diffSize(fs!, param(url, 'older') ?? null, param(url, 'newer')))),
    fsRoute('GET', '/diff', async (request, response, url, [fs]) => {
      request.resume();
      const extents = await store.diff(fs!, param(url, 'older') ?? null, param(url, 'newer'));
      response.writeHead(200, { 'content-type': 'application/x-ndjson' });
      await streamOut(response, ndjson(extents));
    }),
    fsRoute('GET', '/export', async (request, response, url, [fs]) => {
      request.resume();
      const exported = await store.exportDiff(fs!, param(url, 'older') ?? null, param(url, 'newer'));
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'x-snapcopy-delta-size': JSON.stringify(exported.size) });
      await streamOut(response, exported.pieces);
    }),
    fsRoute('POST', '/import', async (request, response, url, [fs]) => {
      const outcome = await store.importDiff(fs!, request as AsyncIterable<Uint8Array>, {
        rollback: param(url, 'rollback') === '1', replica: param(url, 'replica') === '1',
      });
      request.resume(); // an import that stopped early (already there) leaves the rest unread
      sendJson(response, 200, outcome);
    }),
    {
      method: 'POST', pattern: /^\/v1\/clone$/,
      reply: json((body) => store.clone(text(body, 'checkpoint'), text(body, 'fs'))),
    },
    {
      method: 'POST', pattern: /^\/v1\/fs-copy$/,
      reply: json((body) => store.copyDelta(text(body, 'newer'), text(body, 'target'), text(body, 'older'))),
    },
  ];
}

async function* ndjson(values: AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  for await (const value of values) yield encoder.encode(`${JSON.stringify(value)}\n`);
}

/**
 * The volume API's request handler: answers the requests whose paths are its own and
 * returns true; false for every other path.
 */
export interface VolumeApiOptions {
  /** Refuses a mode change that would break something the node runs (a replica made read-write). */
  checkMode?(fs: string, mode: VolumeMode): Promise<void>;
  /** Refuses to delete a checkpoint something the node runs is using (a version being served). */
  checkDelete?(spec: string, volume: string | undefined): Promise<void>;
}

export function volumeApi(store: VolumeStore, options: VolumeApiOptions = {}): (request: IncomingMessage, response: ServerResponse, url: URL) => boolean {
  return router(routes(store, options));
}

/** A request handler over a table of routes: answers its own paths and returns true; false for others. */
export function router(table: Route[]): (request: IncomingMessage, response: ServerResponse, url: URL) => boolean {
  return (request, response, url) => {
    const matches = table.filter((r) => r.pattern.test(url.pathname));
    if (matches.length === 0) return false;
    const route = matches.find((r) => r.method === request.method);
    if (!route) {
      request.resume();
      sendJson(response, 405, { code: 'ERR_NOT_FOUND', message: `no ${request.method} ${url.pathname}` });
      return true;
    }
    const params = route.pattern.exec(url.pathname)!.slice(1).map((p) => decodeURIComponent(p));
    route.reply(request, response, url, params).catch((error: unknown) => {
      request.resume();
      sendError(response, error);
    });
    return true;
  };
}
