// The node side of version distribution: a volume's checkpoints served as versions.
//
//   GET       /v1/versions/<fs>/index.json                    the versions index (snapcopy-versions/1)
//   GET       /v1/versions/<fs>/update?have=<image>[&version=<image|name>]   the decision, as JSON
//   GET|HEAD  /v1/versions/<fs>/full/<image>.snap             a full stream of that version
//   GET|HEAD  /v1/versions/<fs>/delta/<from>-<to>.snap        the delta stream from one version to another
//
// The versions are all the volume's checkpoints, oldest first: the queue already is
// J..J+K (the head is the oldest kept, the tail the youngest), and a delta between any
// two of them is one scan over the bit maps between them. The operator chooses K by
// deleting old checkpoints (`ckpt --delete`); a client holding a deleted one gets a full
// copy. Streams are spooled (spool.ts) and served from the file with byte ranges, in
// fixed-size reads with back-pressure, so a client costs a bounded amount of memory.
// A stream's exact size is worked out before it is produced (the delta's extents give
// its records, the header is its first piece), so /update answers at once and the first
// download streams the spool file as it is written instead of waiting for all of it.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SnapcopyError, notFound } from '../errors.js';
import type { Counter, Metrics } from '../node/metrics.js';
import { sendError, sendJson } from '../node/volume-api.js';
import type { DataDir } from '../volume/data-dir.js';
import type { CheckpointInfo, Volume } from '../volume/volume.js';
import { decideUpdate } from './decide.js';
import { fullPath, INDEX_FORMAT, parseSnapPath, type VersionEntry, type VersionsIndex } from './index-format.js';
import { rangeOf } from './range.js';
import type { Growth, Spool, SpoolFile, SpoolWriter } from './spool.js';

/** Bytes per read from a spooled file: with the socket's buffer, what one download holds in memory. */
export const READ_BUFFER_BYTES = 64 * 1024;

const VERSIONS_PATH = /^\/v1\/versions\/([^/]+)\/(.+)$/;

/**
 * A volume's checkpoints as versions, oldest first: one per image, under the oldest
 * checkpoint holding it (as publish names it: a stream's header names its checkpoints,
 * and the oldest stays the same when another checkpoint of the same image is made, so
 * a stream for given ids keeps its bytes).
 */
export function versionsOf(checkpoints: readonly CheckpointInfo[]): (VersionEntry & { checkpoint: string })[] {
  const oldest = new Map<string, CheckpointInfo>();
  for (const c of checkpoints) if (!oldest.has(c.image)) oldest.set(c.image, c);
  return checkpoints
    .filter((c) => oldest.get(c.image) === c)
    .map((c) => ({ image: c.image, name: c.name, created: c.created, checkpoint: c.name }));
}

export class VersionServer {
  /** Downloads waiting on the production of a stream of each checkpoint (`fs@name` → count). */
  readonly #producing = new Map<string, number>();
  readonly #bytesServed: Counter;
  readonly #requests: Counter;

  constructor(readonly dir: DataDir, readonly spool: Spool, metrics: Metrics) {
    this.#bytesServed = metrics.counter('snapcopy_delta_bytes_total', 'Bytes of version streams (full and delta) sent to clients');
    this.#requests = metrics.counter('snapcopy_pull_requests_total', 'Update requests answered, by decision');
  }

  /** Refuses to delete a checkpoint while a stream of it is being produced (ERR_IN_USE). */
  checkDelete(fs: string, checkpoint: string): void {
    const n = this.#producing.get(`${fs}@${checkpoint}`) ?? 0;
    if (n > 0) {
      throw new SnapcopyError('ERR_IN_USE', `${fs}@${checkpoint} is being served to ${n} download${n === 1 ? '' : 's'}; try again when they finish`);
    }
  }

  /** Answers /v1/versions/... (true), or leaves the request alone (false). */
  handle(request: IncomingMessage, response: ServerResponse, url: URL): boolean {
    const match = VERSIONS_PATH.exec(url.pathname);
    if (!match) return false;
    const method = request.method ?? 'GET';
    request.resume();
    if (method !== 'GET' && method !== 'HEAD') {
      sendJson(response, 405, { code: 'ERR_NOT_FOUND', message: `no ${method} ${url.pathname}` });
      return true;
    }
    const fs = decodeURIComponent(match[1]!);
    const rest = match[2]!;
    this.#answer(fs, rest, request, response, url).catch((error: unknown) => sendError(response, error));
    return true;
  }

  async #answer(fs: string, rest: string, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    if (rest === 'index.json') {
      sendJson(response, 200, await this.index(fs));
      return;
    }
    if (rest === 'update') {
      const have = url.searchParams.get('have') || null;
      const version = url.searchParams.get('version') || undefined;
      const decision = decideUpdate(await this.index(fs), have, version);
      if (decision.path !== null) decision.bytes = (await this.#spooled(fs, decision.path)).bytes;
      this.#requests.inc({ result: decision.result });
      sendJson(response, 200, decision);
      return;
    }
    if (parseSnapPath(rest) === null) throw notFound(`no ${url.pathname}`);
    await this.#send(request, response, await this.#spooled(fs, rest), rest);
  }

  /** The versions index of a volume: every version has a full stream, and a delta between any two (deltas: null). */
  async index(fs: string): Promise<VersionsIndex> {
    const volume = await this.dir.volume(fs);
    const versions = versionsOf(volume.listCheckpoints()).map(({ image, name, created }) => ({ image, name, created }));
    return {
      format: INDEX_FORMAT, volume: fs, size: volume.size, blockSize: volume.blockSize, versions,
      full: versions.map((v) => ({ to: v.image, path: fullPath(v.image), bytes: this.spool.peek(spoolKey(volume, fullPath(v.image)))?.bytes ?? null })),
      deltas: null,
    };
  }

  /** The spooled stream at `path` of volume `fs`, produced now if need be. */
  async #spooled(fs: string, path: string): Promise<SpoolFile> {
    const snap = parseSnapPath(path);
    if (!snap) throw notFound(`no ${path}`);
    const volume = await this.dir.volume(fs);
    const versions = versionsOf(volume.listCheckpoints());
    const checkpointOf = (image: string) => {
      const found = versions.find((v) => v.image === image);
      if (!found) throw notFound(`${fs} has no version ${image} (it holds ${versions.map((v) => v.name).join(', ') || 'none'})`);
      return found.checkpoint;
    };
    const newer = checkpointOf(snap.to);
    const older = snap.kind === 'delta' ? checkpointOf(snap.from) : null;
    if (snap.kind === 'delta' && versions.findIndex((v) => v.image === snap.from) >= versions.findIndex((v) => v.image === snap.to)) {
      throw new SnapcopyError('ERR_NOT_YOUNGER', `${fs}@${newer} is not younger than ${fs}@${older}: there is no delta ${path}`);
    }
    const key = spoolKey(volume, path);
    const ready = this.spool.peek(key);
    if (ready) return this.spool.get(key, async () => undefined);
    const using = [newer, ...(older ? [older] : [])].map((c) => `${fs}@${c}`);
    for (const u of using) this.#producing.set(u, (this.#producing.get(u) ?? 0) + 1);
    const done = () => {
      for (const u of using) {
        const left = this.#producing.get(u)! - 1;
        if (left === 0) this.#producing.delete(u);
        else this.#producing.set(u, left);
      }
    };
    let file: SpoolFile;
    try {
      file = await this.spool.get(key, (out) => produce(volume, older, newer, out));
    } catch (error) {
      done();
      throw error;
    }
    // A file handed out while it grows is still being produced: its checkpoints stay in use until it ends.
    if (file.growth) void file.growth.reach(Number.MAX_SAFE_INTEGER).catch(() => undefined).finally(done);
    else done();
    return file;
  }

  /** Sends a spooled file, whole or one byte range, reading a fixed buffer at a time. */
  async #send(request: IncomingMessage, response: ServerResponse, file: SpoolFile, path: string): Promise<void> {
    const etag = `"${etagOf(path)}"`;
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', etag,
    };
    const ifRange = request.headers['if-range'];
    const range = ifRange !== undefined && ifRange !== etag ? { kind: 'whole' as const } : rangeOf(request.headers.range, file.bytes);
    if (range.kind === 'unsatisfiable') {
      response.writeHead(416, { ...headers, 'content-range': `bytes */${file.bytes}`, 'content-length': 0 });
      response.end();
      return;
    }
    const [start, end] = range.kind === 'part' ? [range.start, range.end] : [0, file.bytes - 1];
    const status = range.kind === 'part' ? 206 : 200;
    if (range.kind === 'part') headers['content-range'] = `bytes ${start}-${end}/${file.bytes}`;
    headers['content-length'] = end - start + 1;
    if (request.method === 'HEAD' || end < start) {
      response.writeHead(status, headers);
      response.end();
      return;
    }
    const { handle, release } = await this.spool.open(file);
    try {
      response.writeHead(status, headers);
      const reader = Readable.from(readRange(handle, start, end, file.growth), { objectMode: false, highWaterMark: READ_BUFFER_BYTES });
      reader.on('data', (chunk) => this.#bytesServed.inc({}, (chunk as Buffer).byteLength));
      await pipeline(reader, response);
    } catch {
      // The client went away, the read failed, or the production it was following failed:
      // either way the download is cut (never ended cleanly, so the client sees it short).
      response.destroy();
    } finally {
      release();
      await handle.close().catch(() => undefined);
    }
  }
}

/** The etag of a stream: its file name without extension (`<from>-<to>`, `<image>`). */
export function etagOf(path: string): string {
  return parseSnapPath(path)!.key;
}

/** The spool's key: per volume (by uuid, so a volume made again under the same name starts afresh). */
function spoolKey(volume: Volume, path: string): string {
  const snap = parseSnapPath(path)!;
  return `${volume.uuid}.${snap.kind}-${snap.key}`;
}

/**
 * Bytes `start..end` (inclusive) of a spooled file, a fixed buffer at a time; of a file
 * still growing, each read waits until its first byte is written.
 */
async function* readRange(handle: import('node:fs').promises.FileHandle, start: number, end: number, growth: Growth | undefined): AsyncGenerator<Buffer> {
  for (let at = start; at <= end;) {
    const written = growth ? await growth.reach(at) : end + 1;
    const want = Math.min(READ_BUFFER_BYTES, end + 1 - at, written - at);
    if (want <= 0) throw new SnapcopyError('ERR_INTERNAL', `the spooled stream ended at ${written} bytes, before byte ${at}`);
    const buffer = Buffer.allocUnsafe(want);
    const { bytesRead } = await handle.read(buffer, 0, want, at);
    if (bytesRead === 0) throw new SnapcopyError('ERR_IO', `the spooled stream ends before byte ${at}`);
    at += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/** Data extents are cut into pieces of this many blocks, one record each (as the export cuts them, engine/core.ts stepBlocks). */
const stepBlocks = (blockSize: number) => Math.max(1, Math.floor((4 << 20) / blockSize));

/**
 * The exact bytes of the stream whose header is `header` (its first piece): the header,
 * then a record head per record (plus the data of data records), then the trailer. The
 * head and trailer sizes follow the format version in the header (version 1 has 4-byte sums).
 */
export function streamBytes(header: Uint8Array, records: number, dataBytes: number): number {
  const version = header[8]! | (header[9]! << 8);
  const sumBytes = version === 1 ? 4 : 8;
  return header.byteLength + records * (16 + sumBytes) + dataBytes + 16 + 2 * sumBytes;
}

/** The records of delta(older, newer) and the data bytes they carry, from its extents (no data read). */
async function recordsOf(volume: Volume, older: string | null, newer: string): Promise<{ records: number; dataBytes: number }> {
  const step = stepBlocks(volume.blockSize);
  let records = 0;
  let dataBlocks = 0;
  for await (const extent of volume.diff(older, newer)) {
    if (extent.kind === 'unused') {
      records++;
    } else {
      records += Math.ceil(extent.count / step);
      dataBlocks += extent.count;
    }
  }
  return { records, dataBytes: dataBlocks * volume.blockSize };
}

/** Writes the stream, declaring its size first (the spool checks the produced file against it). */
async function produce(volume: Volume, older: string | null, newer: string, out: SpoolWriter): Promise<void> {
  const { records, dataBytes } = await recordsOf(volume, older, newer);
  let first = true;
  for await (const piece of volume.exportDiff(older, newer, { transient: true })) {
    if (first) out.declare(streamBytes(piece, records, dataBytes));
    first = false;
    // Transient pieces share a buffer with the next: each is written out before the next is asked for.
    await out.write(piece);
  }
}
