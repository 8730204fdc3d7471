// rcptest (the seed's "rcpfiletest"): send a file to every destination of a group; each
// destination stores it under <data>/rcptest/<name>, durably, after checking its size, and
// only then acknowledges the end. Integrity end to end comes from RCP itself: the origin
// seals each frame's CRC-32, forwarders pass frames on without resealing, every receiver
// checks it, and sequence numbers rule out gaps and repeats.

import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { SnapcopyError } from '../errors.js';
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

/** Sends the file at `path` to every destination of `group`. */
export async function sendFile(service: RcpService, options: { path: string; group: string; chunkBytes?: number }): Promise<RcptestResult> {
  const chunkBytes = options.chunkBytes ?? RCPTEST_CHUNK_BYTES;
  const name = basename(options.path);
  const fd = fs.openSync(options.path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const started = performance.now();
    const session = service.openSession({ group: options.group, app: RCPTEST_APP, meta: { name, size } });
    try {
      await session.sendControl({ name, size });
      for (let offset = 0; offset < size;) {
        const frame = session.allocData(Math.min(chunkBytes, size - offset));
        const read = fs.readSync(fd, frame.body, 0, frame.body.byteLength, offset);
        if (read !== frame.body.byteLength) throw new SnapcopyError('ERR_IO', `${options.path} shrank while it was being sent`);
        await session.sendAllocated(frame);
        offset += read;
      }
      const result = await session.end({ size });
      return { group: options.group, name, bytes: size, seconds: (performance.now() - started) / 1000, destinations: result.destinations, hops: result.hops };
    } catch (error) {
      session.abort();
      throw error;
    }
  } finally {
    fs.closeSync(fd);
  }
}

const SAFE_NAME = /^[^/\\\0]{1,255}$/;

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
        if (typeof meta.name !== 'string' || !SAFE_NAME.test(meta.name) || meta.name.startsWith('.')) {
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
