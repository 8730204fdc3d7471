// rcptest (the seed's "rcpfiletest"): send a file to every destination of a group. The
// bytes come from the client (the CLI streams the file as its request body) and are sent as
// they arrive: a node never opens a path a client names, nor needs the client's files. Each
// destination stores it under <data>/rcptest/<name>, durably, after checking its size, and
// only then acknowledges the end. Integrity end to end comes from RCP itself: the origin
// seals each frame's CRC-32, forwarders pass frames on without resealing, every receiver
// checks it, and sequence numbers rule out gaps and repeats.

import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { invalidArgument, SnapcopyError } from '../errors.js';
import type { SessionApp } from '../rcp/local.js';
import { jsonOf } from '../rcp/messages.js';
import type { DestinationStatus } from '../rcp/session.js';
import type { SessionResult } from '../rcp/origin.js';
import type { RcpService } from '../rcp/service.js';
import { syncDir } from '../storage/file.js';

export const RCPTEST_APP = 'rcptest';
export const RCPTEST_CHUNK_BYTES = 256 * 1024;

export interface RcptestResult {
  group: string;
  name: string;
  bytes: number;
  seconds: number;
  destinations: Record<string, DestinationStatus>;
  hops: SessionResult['hops'];
}

/** What to send: `size` bytes from `source`, stored as `name` at every destination of `group`. */
export interface RcptestUpload {
  group: string;
  name: string;
  size: number;
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

const SAFE_NAME = /^[^/\\\0]{1,255}$/;

function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name) && !name.startsWith('.');
}

/** Checks an upload's name and size; the group is checked when the session opens. */
export function checkUpload(upload: Pick<RcptestUpload, 'name' | 'size'>): void {
  if (!isSafeName(upload.name)) throw invalidArgument(`rcptest: bad file name ${JSON.stringify(upload.name)} (no "/", not starting with ".")`);
  if (!Number.isSafeInteger(upload.size) || upload.size < 0) throw invalidArgument(`rcptest: bad size ${String(upload.size)}`);
}

/**
 * POST /v1/rcptest?group=<g>&name=<file name>&size=<bytes>, the body the file's bytes:
 * the upload it describes, reading the body as it arrives.
 */
export function uploadOfRequest(url: URL, contentLength: string | undefined, body: AsyncIterable<Uint8Array>): RcptestUpload {
  const param = (key: string) => {
    const value = url.searchParams.get(key);
    if (!value) throw invalidArgument(`rcptest: "${key}" is required in the query (?group=<g>&name=<file>&size=<bytes>)`);
    return value;
  };
  const group = param('group');
  const name = param('name');
  const sizeText = param('size');
  const size = /^\d{1,16}$/.test(sizeText) ? Number(sizeText) : NaN;
  checkUpload({ name, size });
  if (contentLength !== undefined && Number(contentLength) !== size) {
    throw invalidArgument(`rcptest: the body has ${contentLength} bytes, the query announces ${size}`);
  }
  return { group, name, size, source: body };
}

/**
 * Sends an upload to every destination of its group as its bytes arrive: each data frame
 * is filled from the source and sent, and the source is read no further while the
 * session's window is full, so memory stays bounded whatever the size. A source that ends
 * early, runs long or fails aborts the session.
 */
export async function sendStream(service: RcpService, upload: RcptestUpload, options: { chunkBytes?: number } = {}): Promise<RcptestResult> {
  checkUpload(upload);
  const { group, name, size } = upload;
  const chunkBytes = options.chunkBytes ?? RCPTEST_CHUNK_BYTES;
  const started = performance.now();
  const session = service.openSession({ group, app: RCPTEST_APP, meta: { name, size } });
  try {
    await session.sendControl({ name, size });
    let sent = 0;
    let received = 0;
    let frame: { raw: Uint8Array; body: Uint8Array } | undefined;
    let filled = 0;
    try {
      for await (const chunk of upload.source) {
        received += chunk.byteLength;
        if (received > size) throw invalidArgument(`rcptest: the body is longer than the ${size} bytes announced`);
        for (let at = 0; at < chunk.byteLength;) {
          frame ??= session.allocData(Math.min(chunkBytes, size - sent));
          const n = Math.min(frame.body.byteLength - filled, chunk.byteLength - at);
          frame.body.set(chunk.subarray(at, at + n), filled);
          filled += n;
          at += n;
          if (filled === frame.body.byteLength) {
            await session.sendAllocated(frame);
            sent += filled;
            frame = undefined;
            filled = 0;
          }
        }
      }
    } catch (error) {
      if (error instanceof SnapcopyError) throw error;
      throw new SnapcopyError('ERR_IO', `rcptest: the upload broke off after ${received} of ${size} bytes: ${(error as Error).message}`);
    }
    if (received < size) throw invalidArgument(`rcptest: the body ended after ${received} of the ${size} bytes announced`);
    const result = await session.end({ size });
    return { group, name, bytes: size, seconds: (performance.now() - started) / 1000, destinations: result.destinations, hops: result.hops };
  } catch (error) {
    session.abort();
    throw error;
  }
}

/** Sends a local file (the library's caller names it; a node never opens a path a client names). */
export async function sendFile(service: RcpService, options: { path: string; group: string; chunkBytes?: number }): Promise<RcptestResult> {
  const file = await fs.promises.open(options.path, 'r');
  try {
    const size = (await file.stat()).size;
    const upload = { group: options.group, name: basename(options.path), size, source: readChunks(file, size, options.path) };
    return await sendStream(service, upload, { chunkBytes: options.chunkBytes });
  } finally {
    await file.close();
  }
}

/** The first `size` bytes of a file, in chunks; one buffer, reused (the consumer copies each chunk before asking for the next). */
async function* readChunks(file: fs.promises.FileHandle, size: number, path: string): AsyncGenerator<Uint8Array> {
  const buffer = Buffer.allocUnsafe(Math.min(RCPTEST_CHUNK_BYTES, Math.max(size, 1)));
  for (let offset = 0; offset < size;) {
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.byteLength, size - offset), offset);
    if (bytesRead === 0) throw new SnapcopyError('ERR_IO', `${path} shrank while it was being sent`);
    offset += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}


/** The destination side: one file per session, renamed into place once complete. */
export function rcptestReceiver(dir: string): (session: { id: string }) => SessionApp {
  return (session) => {
    const partial = join(dir, `.${session.id}.partial`);
    let fd: number | undefined;
    let name = '';
    let offset = 0;
    const close = () => {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    };
    return {
      onControl(body) {
        const meta = jsonOf(body, 'the rcptest header');
        if (typeof meta.name !== 'string' || !isSafeName(meta.name)) {
          throw new SnapcopyError('ERR_INVALID_ARGUMENT', 'rcptest: bad file name');
        }
        name = meta.name;
        fs.mkdirSync(dir, { recursive: true });
        close();
        fd = fs.openSync(partial, 'w');
        offset = 0;
      },
      onData(body) {
        if (fd === undefined) throw new SnapcopyError('ERR_PROTOCOL', 'rcptest: data before the header');
        fs.writeSync(fd, body, 0, body.byteLength, offset);
        offset += body.byteLength;
      },
      async onEnd(body) {
        if (fd === undefined) throw new SnapcopyError('ERR_PROTOCOL', 'rcptest: end before the header');
        const end = jsonOf(body, 'the rcptest end');
        if (end.size !== offset) {
          throw new SnapcopyError('ERR_CHECKSUM', `rcptest: received ${offset} bytes, the sender sent ${String(end.size)}`);
        }
        fs.fsyncSync(fd);
        close();
        fs.renameSync(partial, join(dir, name));
        await syncDir(dir);
      },
      onAbort() {
        close();
        fs.rmSync(partial, { force: true });
      },
    };
  };
}
