// A node's volumes, reached over its HTTP API (src/node/volume-api.ts): the same
// VolumeStore interface as a local data directory, so `--node` works for every
// volume command. Data streams both ways; nothing is buffered whole.

import * as http from 'node:http';
import type { DeltaExtent, DeltaSize } from '../checkpoint/delta.js';
import { SnapcopyError, type SnapcopyErrorCode } from '../errors.js';
import type { VolumeInfo, VolumeOptions } from '../volume/data-dir.js';
import type { CopyOutcome, ExportStream, ImportOutcome, SizedStream, VolumeStore } from '../volume/store.js';
import type { CheckpointInfo, VolumeMode } from '../volume/volume.js';
import { parseAddress } from './address.js';
import type { NodeTarget } from './client.js';

const enc = encodeURIComponent;

function query(values: Record<string, string | number | undefined | null>): string {
  const parts = Object.entries(values).filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => `${k}=${enc(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

export class RemoteStore implements VolumeStore {
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  constructor(readonly target: NodeTarget) {}

  list(): Promise<VolumeInfo[]> {
    return this.#json('GET', '/v1/volumes') as Promise<VolumeInfo[]>;
  }

  info(fs: string): Promise<VolumeInfo> {
    return this.#json('GET', `/v1/volumes/${enc(fs)}`) as Promise<VolumeInfo>;
  }

  create(fs: string, options: VolumeOptions): Promise<VolumeInfo> {
    return this.#json('POST', '/v1/volumes', { name: fs, ...options }) as Promise<VolumeInfo>;
  }

  destroy(fs: string, options: { recursive?: boolean }): Promise<{ checkpoints: number }> {
    return this.#json('DELETE', `/v1/volumes/${enc(fs)}${query({ recursive: options.recursive ? 1 : undefined })}`) as Promise<{ checkpoints: number }>;
  }

  async rename(fs: string, to: string): Promise<void> {
    await this.#json('POST', `/v1/volumes/${enc(fs)}/rename`, { to });
  }

  setMode(fs: string, mode: VolumeMode): Promise<{ mode: VolumeMode; was: VolumeMode }> {
    return this.#json('POST', `/v1/volumes/${enc(fs)}/mode`, { mode }) as Promise<{ mode: VolumeMode; was: VolumeMode }>;
  }

  resize(fs: string, size: number): Promise<VolumeInfo> {
    return this.#json('POST', `/v1/volumes/${enc(fs)}/resize`, { size }) as Promise<VolumeInfo>;
  }

  async write(fs: string, offset: number, source: AsyncIterable<Uint8Array>, size?: number): Promise<number> {
    const answer = await this.#upload('PUT', `/v1/volumes/${enc(fs)}/data${query({ offset, size })}`, source, size);
    return (answer as { bytes: number }).bytes;
  }

  async read(spec: string, offset: number, length?: number): Promise<SizedStream> {
    const at = spec.indexOf('@');
    const [fs, checkpoint] = at < 0 ? [spec, undefined] : [spec.slice(0, at), spec.slice(at + 1)];
    const response = await this.#open('GET', `/v1/volumes/${enc(fs)}/data${query({ offset, length, checkpoint })}`);
    return { bytes: Number(response.headers['content-length']), pieces: this.#body(response) };
  }

  async discard(fs: string, offset: number, length: number): Promise<void> {
    await this.#json('POST', `/v1/volumes/${enc(fs)}/discard`, { offset, length });
  }

  createCheckpoint(fs: string, name?: string): Promise<CheckpointInfo> {
    return this.#json('POST', `/v1/volumes/${enc(fs)}/checkpoints`, name === undefined ? {} : { name }) as Promise<CheckpointInfo>;
  }

  listCheckpoints(fs: string): Promise<CheckpointInfo[]> {
    return this.#json('GET', `/v1/volumes/${enc(fs)}/checkpoints`) as Promise<CheckpointInfo[]>;
  }

  async deleteCheckpoint(spec: string, fs?: string): Promise<string> {
    return ((await this.#json('DELETE', `/v1/checkpoints/${enc(spec)}${query({ volume: fs })}`)) as { deleted: string }).deleted;
  }

  async restore(fs: string, checkpoint: string): Promise<string> {
    return ((await this.#json('POST', `/v1/volumes/${enc(fs)}/restore`, { checkpoint })) as { restored: string }).restored;
  }

  diffSize(fs: string, older: string | null, newer?: string): Promise<DeltaSize> {
    return this.#json('GET', `/v1/volumes/${enc(fs)}/diff-size${query({ older, newer })}`) as Promise<DeltaSize>;
  }

  async diff(fs: string, older: string | null, newer?: string): Promise<AsyncIterable<DeltaExtent>> {
    const response = await this.#open('GET', `/v1/volumes/${enc(fs)}/diff${query({ older, newer })}`);
    return lines(this.#body(response)) as AsyncIterable<DeltaExtent>;
  }

  async exportDiff(fs: string, older: string | null, newer?: string): Promise<ExportStream> {
    const response = await this.#open('GET', `/v1/volumes/${enc(fs)}/export${query({ older, newer })}`);
    const size = JSON.parse(String(response.headers['x-snapcopy-delta-size'] ?? 'null')) as DeltaSize | null;
    if (!size) throw new SnapcopyError('ERR_PROTOCOL', `node ${this.target.label} sent an export without its size`);
    return { size, bytes: size.dataBytes, pieces: this.#body(response) };
  }

  async importDiff(fs: string, source: AsyncIterable<Uint8Array>, options: { rollback?: boolean; replica?: boolean }): Promise<ImportOutcome> {
    const q = query({ rollback: options.rollback ? 1 : undefined, replica: options.replica ? 1 : undefined });
    return (await this.#upload('POST', `/v1/volumes/${enc(fs)}/import${q}`, source)) as ImportOutcome;
  }

  clone(checkpoint: string, fs: string): Promise<VolumeInfo> {
    return this.#json('POST', '/v1/clone', { checkpoint, fs }) as Promise<VolumeInfo>;
  }

  copyDelta(newer: string, target: string, older: string): Promise<CopyOutcome> {
    return this.#json('POST', '/v1/fs-copy', { newer, target, older }) as Promise<CopyOutcome>;
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }

  // HTTP.

  #request(method: string, path: string, headers: Record<string, string | number> = {}): http.ClientRequest {
    const { host, port } = parseAddress(this.target.address, 'node address');
    return http.request({
      host, port, method, path, agent: this.#agent,
      headers: { authorization: `Bearer ${this.target.token}`, ...headers },
    });
  }

  /** Sends a request and waits for a 2xx answer's head; anything else becomes the node's error. */
  #open(method: string, path: string, body?: string): Promise<http.IncomingMessage> {
    const headers: Record<string, string | number> = body === undefined
      ? {}
      : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const request = this.#request(method, path, headers);
    const answered = this.#answer(request);
    request.end(body);
    return answered;
  }

  #answer(request: http.ClientRequest): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      request.on('error', (error) => reject(this.#unreachable(error)));
      request.on('response', (response) => {
        if ((response.statusCode ?? 500) < 300) {
          resolve(response);
          return;
        }
        readAll(response).then((bytes) => reject(this.#errorOf(response.statusCode ?? 500, bytes)), reject);
      });
    });
  }

  async #json(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await this.#open(method, path, body === undefined ? undefined : JSON.stringify(body));
    return parseJson(await readAll(response), this.target.label);
  }

  /** Streams `source` as the request body; resolves with the JSON answer (which may come before the body ends). */
  async #upload(method: string, path: string, source: AsyncIterable<Uint8Array>, size?: number): Promise<unknown> {
    const request = this.#request(method, path, {
      'content-type': 'application/octet-stream',
      ...(size === undefined ? {} : { 'content-length': size }),
    });
    const answered = this.#answer(request);
    answered.catch(() => undefined); // observed below, whichever comes first
    let early: unknown;
    const sent = (async () => {
      try {
        for await (const piece of source) {
          if (request.destroyed) return;
          if (!request.write(piece)) await drained(request);
        }
        request.end();
      } catch (error) {
        early = error;
        request.destroy();
      }
    })();
    const response = await Promise.race([answered, sent.then(() => answered)]).catch((error: unknown) => {
      throw early ?? error;
    });
    if (early) throw early;
    return parseJson(await readAll(response), this.target.label);
  }

  async* #body(response: http.IncomingMessage): AsyncGenerator<Uint8Array> {
    let got = 0;
    const expected = response.headers['content-length'] === undefined ? undefined : Number(response.headers['content-length']);
    try {
      for await (const chunk of response) {
        got += (chunk as Buffer).byteLength;
        yield chunk as Buffer;
      }
    } catch (error) {
      throw this.#brokeOff(error);
    }
    if (!response.complete || (expected !== undefined && got !== expected)) throw this.#brokeOff(undefined);
  }

  #brokeOff(cause: unknown): SnapcopyError {
    return new SnapcopyError('ERR_IO', `node ${this.target.label}: the stream broke off before its end (the node failed part-way)`, { cause });
  }

  #unreachable(error: Error): SnapcopyError {
    return new SnapcopyError('ERR_UNREACHABLE', `node ${this.target.label} at ${this.target.address}: ${error.message}`);
  }

  #errorOf(status: number, bytes: Buffer): SnapcopyError {
    try {
      const value = JSON.parse(bytes.toString('utf8')) as { code?: string; message?: string };
      return new SnapcopyError((value.code ?? 'ERR_IO') as SnapcopyErrorCode, `node ${this.target.label}: ${value.message ?? status}`);
    } catch {
      return new SnapcopyError('ERR_PROTOCOL', `node ${this.target.label} answered ${status} with no JSON`);
    }
  }
}

/** Resolves when the request can take more, or has closed (the answer then says why). */
function drained(request: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      request.off('drain', done);
      request.off('close', done);
      resolve();
    };
    request.on('drain', done);
    request.on('close', done);
  });
}

async function readAll(response: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseJson(bytes: Buffer, label: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SnapcopyError('ERR_PROTOCOL', `node ${label} answered with no JSON`);
  }
}

/** One JSON value a line. */
async function* lines(pieces: AsyncIterable<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let rest = '';
  for await (const piece of pieces) {
    rest += decoder.decode(piece, { stream: true });
    let newline = rest.indexOf('\n');
    while (newline >= 0) {
      const line = rest.slice(0, newline);
      rest = rest.slice(newline + 1);
      if (line) yield JSON.parse(line);
      newline = rest.indexOf('\n');
    }
  }
  if (rest.trim()) yield JSON.parse(rest);
}
