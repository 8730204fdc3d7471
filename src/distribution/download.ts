// Downloads one `.snap` stream to a file, resuming a cut connection with an HTTP Range
// request from the bytes already on disk. A stream for given image ids is the same
// bytes every time, and its strong etag names them: a resumed part must carry the same
// etag (sent as If-Range too), so a resume never splices two different streams.
//
// A Download is consumed as it arrives (pull imports while downloading): each attempt is
// the whole stream from its first byte, the bytes already on disk and then the rest of
// the connection, every piece written to the file as it is handed on. A cut ends the
// attempt with an error (`cut` says so); the next attempt resumes the connection where
// the file ends. The consumer paces the connection (a piece is asked for only when the
// previous one is taken), and one file write is in flight at a time, so memory is bounded.

import { createReadStream, promises as fs } from 'node:fs';
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

/** Bytes of the connection gathered into one write to the file. */
const WRITE_BATCH_BYTES = 1 << 20;

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

/** A stream being downloaded to a file; see the top of this file. */
export class Download {
  /** Bytes on disk. */
  have = 0;
  total: number | undefined;
  etag: string | undefined;
  /** Connections made so far. */
  attempts = 0;
  /** What cut the last attempt (undefined: it was not cut, or has not ended). */
  cut: SnapcopyError | undefined;
  #fruitless = 0;
  #before = 0;
  /** Ends the connection of the attempt under way (a consumer that gave up may leave it unread). */
  #abort: AbortController | undefined;

  private constructor(readonly url: string, readonly path: string, readonly options: DownloadOptions, readonly out: fs.FileHandle) {}

  /** Starts a download into `path` (created or emptied). Close it when done. */
  static async open(url: string, path: string, options: DownloadOptions = {}): Promise<Download> {
    return new Download(url, path, options, await fs.open(path, 'w', 0o600));
  }

  async close(): Promise<void> {
    this.#abort?.abort();
    await this.out.close();
  }

  /**
   * One attempt: the stream from its first byte (with `replay` false, from where the file
   * ends). Throws the cut (also kept in `cut`) if the connection fails or ends early.
   */
  async *attempt({ replay = true }: { replay?: boolean } = {}): AsyncGenerator<Uint8Array> {
    this.cut = undefined;
    this.attempts++;
    this.#before = this.have;
    let response: Response;
    this.#abort?.abort();
    this.#abort = new AbortController();
    try {
      response = await fetch(this.url, { headers: this.#requestHeaders(), signal: this.#abort.signal });
    } catch (error) {
      throw this.#cutBy(error);
    }
    if (response.status === 416 && this.total !== undefined && this.have === this.total) {
      await response.body?.cancel();
      if (replay) yield* this.#onDisk(this.have);
      return;
    }
    await this.#check(response);
    if (response.status === 200) {
      // The whole stream (a first request, or a server that ignored the range): start over.
      this.have = 0;
      this.etag = response.headers.get('etag') ?? undefined;
      const total = Number(response.headers.get('content-length') ?? NaN);
      this.total = Number.isSafeInteger(total) ? total : undefined;
      await this.out.truncate(0);
    } else if (replay) {
      yield* this.#onDisk(this.have);
    }
    yield* this.#rest(response);
  }

  /** After a cut attempt: gives up when too many attempts in a row brought nothing, else pauses if need be. */
  async retry(): Promise<void> {
    const failure = this.cut;
    this.#fruitless = this.have > this.#before ? 0 : this.#fruitless + 1;
    if (this.#fruitless > (this.options.retries ?? 5) || this.attempts >= MAX_ATTEMPTS) {
      throw new SnapcopyError('ERR_UNREACHABLE', `${this.url}: download failed after ${this.attempts} attempts with ${this.have} bytes: ${failure?.message ?? 'cut'}`);
    }
    // A cut is retried at once (a fetch may lose the last bytes it had before the cut, so an
    // attempt can look fruitless); a source that keeps failing is given growing pauses.
    if (this.#fruitless > 1) await sleep(Math.min(2000, 50 * 2 ** this.#fruitless));
  }

  #requestHeaders(): Record<string, string> {
    const resume = this.have > 0 ? { range: `bytes=${this.have}-`, ...(this.etag ? { 'if-range': this.etag } : {}) } : {};
    return { ...authHeaders(this.options.token), ...resume };
  }

  /** Refuses an answer that is not the stream, or not the rest of the same stream (nothing retried). */
  async #check(response: Response): Promise<void> {
    if (response.status !== 200 && response.status !== 206) {
      const error = await answerError(response, `GET ${this.url}`);
      throw error.code === 'ERR_UNREACHABLE' ? this.#cutBy(error) : error;
    }
    if (!response.body) throw new SnapcopyError('ERR_PROTOCOL', `${this.url} answered with no body`);
    if (response.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
      const tag = response.headers.get('etag') ?? undefined;
      if (!range || Number(range[1]) !== this.have || (this.total !== undefined && Number(range[3]) !== this.total) || tag !== this.etag) {
        await response.body.cancel();
        throw new SnapcopyError('ERR_CORRUPT', `${this.url} changed while it was being downloaded (a resumed part is not the rest of the same stream)`);
      }
    }
  }

  /** The first `bytes` of the file. */
  async *#onDisk(bytes: number): AsyncGenerator<Uint8Array> {
    if (bytes === 0) return;
    yield* createReadStream(this.path, { start: 0, end: bytes - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>;
  }

  /**
   * The rest of the connection, each piece handed on as it comes and written to the file
   * in batches (one write in flight): a write per piece of 64 KiB cost a pull more than
   * the import's own writes.
   */
  async *#rest(response: Response): AsyncGenerator<Uint8Array> {
    let writing: Promise<void> | undefined;
    let batch: Uint8Array[] = [];
    let batched = 0;
    const flush = async () => {
      await writing;
      if (batched === 0) return;
      writing = this.#write(batch, batched);
      batch = [];
      batched = 0;
    };
    const body = response.body as unknown as AsyncIterable<Uint8Array>;
    try {
      try {
        for await (const chunk of body) {
          batch.push(chunk);
          batched += chunk.byteLength;
          if (batched >= WRITE_BATCH_BYTES) await flush();
          yield chunk;
        }
        await flush();
        await writing;
      } catch (error) {
        // What came before the cut is kept, so the next attempt resumes after it.
        await flush().catch(() => undefined);
        await writing?.catch(() => undefined);
        throw error instanceof SnapcopyError && error.code !== 'ERR_UNREACHABLE' ? error : this.#cutBy(error);
      }
    } finally {
      await writing?.catch(() => undefined); // a consumer that stopped early: the write still ends before the file closes
    }
    if (this.total !== undefined && this.have !== this.total) {
      throw this.#cutBy(new Error(`the connection ended after ${this.have} of ${this.total} bytes`));
    }
  }

  /** Writes `parts` (`bytes` in all) where the file ends; `have` counts them once on disk. */
  async #write(parts: Uint8Array[], bytes: number): Promise<void> {
    let done = (await this.out.writev(parts, this.have)).bytesWritten;
    if (done < bytes) {
      const rest = Buffer.concat(parts).subarray(done);
      for (let at = 0; at < rest.byteLength;) {
        const n = (await this.out.write(rest, at, rest.byteLength - at, this.have + done)).bytesWritten;
        at += n;
        done += n;
      }
    }
    this.have += bytes;
    this.options.onBytes?.(this.have, this.total);
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
  const file = await Download.open(url, path, options);
  try {
    for (;;) {
      try {
        for await (const _ of file.attempt({ replay: false })) {
          // written to the file by the download itself
        }
        return { bytes: file.have, etag: file.etag, attempts: file.attempts };
      } catch (error) {
        if (!file.cut || error !== file.cut) throw error;
        await file.retry();
      }
    }
  } finally {
    await file.close();
  }
}
