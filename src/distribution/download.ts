// Downloads one `.snap` stream to a file, resuming a cut connection with an HTTP Range
// request from the bytes already on disk. A stream for given image ids is the same
// bytes every time, and its strong etag names them: a resumed part must carry the same
// etag (sent as If-Range too), so a resume never splices two different streams.

import { promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SnapcopyError, type SnapcopyErrorCode } from '../errors.js';

export interface DownloadOptions {
  /** Sent as a bearer token. */
  token?: string;
  /** Attempts in a row that bring no new byte before giving up (default 5). */
  retries?: number;
  /** Hears of the bytes on disk after each piece. */
  onBytes?: (have: number, total: number | undefined) => void;
}

export interface Downloaded {
  bytes: number;
  etag: string | undefined;
  /** Connections it took (1 when nothing was cut). */
  attempts: number;
}

/** Whole tries, however much each brings: a bound on a source that keeps cutting after a byte or two. */
const MAX_ATTEMPTS = 10_000;

/** The error a source answered with (its JSON `{code, message}`), as a SnapcopyError. */
export async function answerError(response: Response, what: string): Promise<SnapcopyError> {
  const text = await response.text().catch(() => '');
  let body: { code?: string; message?: string } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: a plain web server's error page
  }
  const code = (body?.code ?? (response.status === 401 ? 'ERR_AUTH' : response.status === 403 ? 'ERR_FORBIDDEN' : response.status === 404 ? 'ERR_NOT_FOUND' : 'ERR_IO')) as SnapcopyErrorCode;
  return new SnapcopyError(code, `${what}: ${body?.message ?? `HTTP ${response.status}`}`);
}

export function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** Fetches `url` into `path` (created or emptied), resuming after cuts. */
export async function download(url: string, path: string, options: DownloadOptions = {}): Promise<Downloaded> {
  const retries = options.retries ?? 5;
  const out = await fs.open(path, 'w', 0o600);
  let have = 0;
  let total: number | undefined;
  let etag: string | undefined;
  let fruitless = 0;
  let attempts = 0;
  try {
    for (;;) {
      attempts++;
      const before = have;
      let failure: unknown;
      try {
        const response = await fetch(url, {
          headers: { ...authHeaders(options.token), ...(have > 0 ? { range: `bytes=${have}-`, ...(etag ? { 'if-range': etag } : {}) } : {}) },
        });
        if (response.status === 416 && total !== undefined && have === total) {
          await response.body?.cancel();
          return { bytes: have, etag, attempts };
        }
        if (response.status !== 200 && response.status !== 206) throw await answerError(response, `GET ${url}`);
        const tag = response.headers.get('etag') ?? undefined;
        if (response.status === 206) {
          const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
          if (!range || Number(range[1]) !== have || (total !== undefined && Number(range[3]) !== total) || tag !== etag) {
            await response.body?.cancel();
            throw new SnapcopyError('ERR_CORRUPT', `${url} changed while it was being downloaded (a resumed part is not the rest of the same stream)`);
          }
        } else {
          // The whole stream (a first request, or a server that ignored the range): start over.
          have = 0;
          etag = tag;
          total = Number(response.headers.get('content-length') ?? NaN);
          if (!Number.isSafeInteger(total)) total = undefined;
          await out.truncate(0);
        }
        if (!response.body) throw new SnapcopyError('ERR_PROTOCOL', `${url} answered with no body`);
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          let at = 0;
          while (at < chunk.byteLength) at += (await out.write(chunk, at, chunk.byteLength - at, have + at)).bytesWritten;
          have += chunk.byteLength;
          options.onBytes?.(have, total);
        }
        if (total === undefined || have === total) return { bytes: have, etag, attempts };
        failure = new SnapcopyError('ERR_UNREACHABLE', `${url}: the connection ended after ${have} of ${total} bytes`);
      } catch (error) {
        if (error instanceof SnapcopyError && error.code !== 'ERR_UNREACHABLE') throw error;
        failure = error;
      }
      fruitless = have > before ? 0 : fruitless + 1;
      if (fruitless > retries || attempts >= MAX_ATTEMPTS) {
        throw new SnapcopyError('ERR_UNREACHABLE', `${url}: download failed after ${attempts} attempts with ${have} bytes: ${(failure as Error)?.message ?? failure}`);
      }
      // A cut is retried at once (a fetch may lose the last bytes it had before the cut, so an
      // attempt can look fruitless); a source that keeps failing is given growing pauses.
      if (fruitless > 1) await sleep(Math.min(2000, 50 * 2 ** fruitless));
    }
  } finally {
    await out.close();
  }
}
