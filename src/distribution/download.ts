// Downloads one `.snap` stream, resuming a cut connection with an HTTP Range request from
// the bytes already handed on. A stream for given image ids is the same bytes every time,
// and its strong etag names them: a resumed part must carry the same etag (sent as
// If-Range too), so a resume never splices two different streams.
//
// A Download is consumed as it arrives (pull imports while downloading): `stream()` yields
// the whole stream from its first byte, and a cut is resumed inside it, so the consumer
// sees one unbroken stream and nothing is kept on disk. (An earlier design wrote every
// piece to a file and replayed it after a cut; that file doubled a pull's disk writes and
// cost a third of its time.) Only when the source answers a resume with another stream
// (its etag changed) does `stream()` end with a cut marked `restart`: the consumer must
// start over with a fresh `stream()`. The consumer paces the connection (a piece is asked
// for only when the previous one is taken), so memory is bounded.

import { promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SnapcopyError, type SnapcopyErrorCode } from '../errors.js';
import { type HttpAnswer, httpGet } from './http-get.js';

export interface DownloadOptions {
  /** Sent as a bearer token. */
  token?: string;
  /** Attempts in a row that bring no new byte before giving up (default 5). */
  retries?: number;
  /** Hears of the bytes handed on so far (about every MiB, and at the end). */
  onBytes?: (have: number, total: number | undefined) => void;
}

export interface Downloaded {
  bytes: number;
  etag: string | undefined;
  /** Connections it took (1 when nothing was cut). */
  attempts: number;
}

/** Bytes between two onBytes calls. */
const REPORT_BYTES = 1 << 20;

/** Whole tries, however much each brings: a bound on a source that keeps cutting after a byte or two. */
const MAX_ATTEMPTS = 10_000;

/** The error a source answered with (its JSON `{code, message}`), as a SnapcopyError. */
export async function answerError(response: { status: number; text(): Promise<string> }, what: string): Promise<SnapcopyError> {
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

/** A stream being downloaded; see the top of this file. */
export class Download {
  /** Bytes handed on by the stream under way. */
  have = 0;
  total: number | undefined;
  etag: string | undefined;
  /** Connections made so far. */
  attempts = 0;
  /** The cut that ended the last `stream()` (undefined: it was not cut, or has not ended). */
  cut: SnapcopyError | undefined;
  /** Set with `cut` when the source now serves another stream: start over with a fresh `stream()`. */
  restart = false;
  #fruitless = 0;
  #restarts = 0;
  #reported = 0;
  /** Ends the connection under way (a consumer that gave up may leave it unread). */
  #abort: AbortController | undefined;

  constructor(readonly url: string, readonly options: DownloadOptions = {}) {}

  close(): void {
    this.#abort?.abort();
  }

  /**
   * The stream from its first byte, resuming cuts where they fell. Throws a cut (also
   * kept in `cut`) when the source stays unreachable, or serves another stream (`restart`).
   */
  async *stream(): AsyncGenerator<Uint8Array> {
    this.cut = undefined;
    this.restart = false;
    this.have = 0;
    this.#reported = 0;
    this.#fruitless = 0;
    for (;;) {
      const before = this.have;
      try {
        yield* this.#connection();
        this.#report(true);
        return;
      } catch (error) {
        if (!(error instanceof SnapcopyError) || error !== this.cut || this.restart) throw error;
        await this.#pauseOrGiveUp(before);
      }
    }
  }

  /** One connection: the stream from `have` on (the whole stream when `have` is 0). */
  async *#connection(): AsyncGenerator<Uint8Array> {
    this.attempts++;
    this.#abort?.abort();
    this.#abort = new AbortController();
    let response: HttpAnswer;
    try {
      response = await httpGet(this.url, this.#requestHeaders(), this.#abort.signal);
    } catch (error) {
      throw this.#cutBy(error);
    }
    if (response.status === 416 && this.total !== undefined && this.have === this.total) {
      await response.body.cancel();
      return;
    }
    let skip = await this.#check(response);
    try {
      for await (let piece of response.body) {
        if (skip > 0) {
          // A source that ignored the range sends the same stream whole: pass over what was handed on.
          const passed = Math.min(skip, piece.byteLength);
          skip -= passed;
          piece = piece.subarray(passed);
          if (piece.byteLength === 0) continue;
        }
        this.have += piece.byteLength;
        this.#report(false);
        yield piece;
      }
    } catch (error) {
      throw error instanceof SnapcopyError && error.code !== 'ERR_UNREACHABLE' ? error : this.#cutBy(error);
    }
    if (skip > 0 || (this.total !== undefined && this.have !== this.total)) {
      throw this.#cutBy(new Error(`the connection ended after ${this.have} of ${this.total ?? 'an unknown number of'} bytes`));
    }
  }

  /** After a cut: gives up when too many attempts in a row brought nothing, else pauses if need be. */
  async #pauseOrGiveUp(before: number): Promise<void> {
    const failure = this.cut;
    this.#fruitless = this.have > before ? 0 : this.#fruitless + 1;
    if (this.#fruitless > (this.options.retries ?? 5) || this.attempts >= MAX_ATTEMPTS) {
      this.cut = new SnapcopyError('ERR_UNREACHABLE', `${this.url}: download failed after ${this.attempts} attempts with ${this.have} bytes: ${failure?.message ?? 'cut'}`);
      throw this.cut;
    }
    // A cut is retried at once; a source that keeps failing is given growing pauses.
    if (this.#fruitless > 1) await sleep(Math.min(2000, 50 * 2 ** this.#fruitless));
  }

  #requestHeaders(): Record<string, string> {
    const resume = this.have > 0 ? { range: `bytes=${this.have}-`, ...(this.etag ? { 'if-range': this.etag } : {}) } : {};
    return { ...authHeaders(this.options.token), ...resume };
  }

  /**
   * Refuses an answer that is not the stream, or not the rest of the same stream; returns
   * how many of its first bytes were handed on already (a 200 to a resume of the same stream).
   */
  async #check(response: HttpAnswer): Promise<number> {
    if (response.status !== 200 && response.status !== 206) {
      const error = await answerError(response, `GET ${this.url}`);
      throw error.code === 'ERR_UNREACHABLE' ? this.#cutBy(error) : error;
    }
    const tag = response.headers.get('etag') ?? undefined;
    if (response.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
      if (!range || Number(range[1]) !== this.have || (this.total !== undefined && Number(range[3]) !== this.total) || tag !== this.etag) {
        await response.body.cancel();
        throw new SnapcopyError('ERR_CORRUPT', `${this.url} changed while it was being downloaded (a resumed part is not the rest of the same stream)`);
      }
      return 0;
    }
    const total = Number(response.headers.get('content-length') ?? NaN);
    if (this.have === 0) {
      this.etag = tag;
      this.total = Number.isSafeInteger(total) ? total : undefined;
      return 0;
    }
    if (tag === undefined || tag !== this.etag || (this.total !== undefined && total !== this.total)) {
      // The source serves another stream now: what was handed on cannot be continued.
      await response.body.cancel();
      if (++this.#restarts > (this.options.retries ?? 5)) {
        throw new SnapcopyError('ERR_CORRUPT', `${this.url} changed ${this.#restarts} times while it was being downloaded`);
      }
      this.restart = true;
      throw this.#cutBy(new Error('the source answered a resume with a different stream'));
    }
    return this.have;
  }

  #report(end: boolean): void {
    if (!this.options.onBytes || (!end && this.have - this.#reported < REPORT_BYTES)) return;
    this.#reported = this.have;
    this.options.onBytes(this.have, this.total);
  }

  #cutBy(error: unknown): SnapcopyError {
    this.cut = error instanceof SnapcopyError && error.code === 'ERR_UNREACHABLE'
      ? error
      : new SnapcopyError('ERR_UNREACHABLE', `${this.url}: ${(error as Error)?.message ?? error}`, { cause: error });
    return this.cut;
  }
}

/** Fetches `url` into `path` (created or emptied), resuming after cuts. */
export async function download(url: string, path: string, options: DownloadOptions = {}): Promise<Downloaded> {
  const source = new Download(url, options);
  const out = await fs.open(path, 'w', 0o600);
  try {
    for (;;) {
      try {
        await writeAll(out, source.stream());
        return { bytes: source.have, etag: source.etag, attempts: source.attempts };
      } catch (error) {
        if (!source.restart || error !== source.cut) throw error;
        await out.truncate(0);
      }
    }
  } finally {
    source.close();
    await out.close();
  }
}

/** Writes `pieces` to `out` from offset 0, each where the one before ended. */
async function writeAll(out: fs.FileHandle, pieces: AsyncIterable<Uint8Array>): Promise<void> {
  let at = 0;
  for await (const piece of pieces) {
    for (let done = 0; done < piece.byteLength;) done += (await out.write(piece, done, piece.byteLength - done, at + done)).bytesWritten;
    at += piece.byteLength;
  }
}
