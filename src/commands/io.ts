// The command line's edge: standard streams, files, and a progress bar. Commands
// only see the small interfaces here, so their logic stays in the library.

import { Buffer } from 'node:buffer';
import { createReadStream, promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import process from 'node:process';
import { invalidArgument, SnapcopyError } from '../errors.js';
import { syncDir } from '../storage/file.js';

const bytesOf = (data: Uint8Array | string): Uint8Array => (typeof data === 'string' ? new TextEncoder().encode(data) : data);

export interface Output {
  /** Where the bytes go: a file's path, or undefined for standard output. */
  readonly path: string | undefined;
  write(bytes: Uint8Array | string): Promise<void>;
  /** Makes the output durable (files) and closes it. */
  finish(): Promise<void>;
  /** Removes what was written (a file) after a failure, so nothing is left half-written. */
  abandon(): Promise<void>;
}

/** Standard output as the output edge sees it (replaceable in tests). */
export interface StdoutLike {
  isTTY?: boolean;
  write(bytes: Uint8Array, done: (error?: Error | null) => void): unknown;
}

export interface OutputOptions {
  /** The bytes are a binary stream: refuse to write them to a terminal. */
  binary?: boolean;
  /** Files only: leave holes where whole 4 KiB pages (at 4 KiB file offsets) are zeros. */
  sparse?: boolean;
  /** Default process.stdout. */
  stdout?: StdoutLike;
}

/** Chunks of a file, or of standard input for "-". */
export function readInput(path: string): AsyncIterable<Uint8Array> {
  return (path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 4 << 20 })) as AsyncIterable<Uint8Array>;
}

export async function inputSize(path: string): Promise<number | undefined> {
  if (path === '-') return undefined;
  return (await fs.stat(path)).size;
}

const isStdout = (path: string | undefined): boolean => path === undefined || path === '-';

function stdoutOutput(stdout: StdoutLike): Output {
  return {
    path: undefined,
    write: (bytes) => new Promise<void>((resolve, reject) => {
      stdout.write(bytesOf(bytes), (error) => (error ? reject(error) : resolve()));
    }),
    finish: async () => {},
    abandon: async () => {},
  };
}

/**
 * Standard output for "-" (or no path); otherwise a file written under a temporary name
 * and renamed when done. A binary stream is refused, before anything is written, when
 * standard output is a terminal: it would fill the screen with bytes and can send the
 * terminal control sequences.
 */
export async function openOutput(path: string | undefined, options: OutputOptions = {}): Promise<Output> {
  const stdout = options.stdout ?? (process.stdout as StdoutLike);
  if (isStdout(path)) {
    if (options.binary && stdout.isTTY) {
      throw new SnapcopyError('ERR_TERMINAL', 'standard output is a terminal; not writing a binary stream to it (give an output file, or redirect with > or |)');
    }
    return stdoutOutput(stdout);
  }
  if (path!.startsWith('/dev/')) return deviceOutput(path!);
  return FileOutput.open(path!, options.sparse ?? false);
}

async function deviceOutput(path: string): Promise<Output> {
  const handle = await fs.open(path, 'w');
  return {
    path,
    write: async (bytes) => void (await handle.write(bytesOf(bytes))),
    finish: () => handle.close(),
    abandon: () => handle.close(),
  };
}

const PAGE = 4096;
const ZERO_PAGE = Buffer.alloc(PAGE);

function isZeroPage(bytes: Buffer, at: number): boolean {
  // Data pages almost always give themselves away at their first or last byte; only
  // the rest are compared (through one view of the piece, not a new one per page).
  if (bytes[at] !== 0 || bytes[at + PAGE - 1] !== 0) return false;
  return bytes.compare(ZERO_PAGE, 0, PAGE, at, at + PAGE) === 0;
}

/** A file written at explicit positions, so zero pages can be skipped (holes) and the size set at the end. */
class FileOutput implements Output {
  #position = 0;

  private constructor(readonly path: string, private readonly temp: string, private readonly handle: fs.FileHandle, private readonly sparse: boolean) {}

  static async open(path: string, sparse: boolean): Promise<FileOutput> {
    // Found now, not when the finished file is renamed over it after all the work.
    if ((await fs.stat(path).catch(() => undefined))?.isDirectory()) throw invalidArgument(`${path} is a directory; name a file to write`);
    const temp = `${path}.partial`;
    const handle = await fs.open(temp, 'w', 0o644).catch((error: NodeJS.ErrnoException) => {
      throw Object.assign(error, { path: error.code === 'ENOENT' ? dirname(path) : path });
    });
    return new FileOutput(path, temp, handle, sparse);
  }

  async write(data: Uint8Array | string): Promise<void> {
    const bytes = bytesOf(data);
    if (this.sparse) await this.#writeSkippingZeroPages(bytes);
    else await this.#writeAt(bytes, this.#position);
    this.#position += bytes.length;
  }

  /** Writes the runs between whole zero pages; a page cut by a piece's edge is written as it is. */
  async #writeSkippingZeroPages(piece: Uint8Array): Promise<void> {
    const bytes = Buffer.from(piece.buffer, piece.byteOffset, piece.length);
    let runStart = 0;
    let at = 0;
    while (at < bytes.length) {
      const pageEnd = Math.min(bytes.length, at + PAGE - ((this.#position + at) % PAGE));
      if (pageEnd - at === PAGE && isZeroPage(bytes, at)) {
        if (at > runStart) await this.#writeAt(bytes.subarray(runStart, at), this.#position + runStart);
        runStart = pageEnd;
      }
      at = pageEnd;
    }
    if (runStart < bytes.length) await this.#writeAt(bytes.subarray(runStart), this.#position + runStart);
  }

  async #writeAt(bytes: Uint8Array, position: number): Promise<void> {
    for (let done = 0; done < bytes.length;) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, position + done);
      if (bytesWritten === 0) throw Object.assign(new Error(`${this.temp}: no progress writing`), { code: 'ENOSPC', path: this.temp });
      done += bytesWritten;
    }
  }

  async finish(): Promise<void> {
    // Skipped pages at the end are not in the file until its size says so.
    await this.handle.truncate(this.#position);
    await this.handle.sync();
    await this.handle.close();
    await fs.rename(this.temp, this.path);
    await syncDir(dirname(this.path));
  }

  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await fs.rm(this.temp, { force: true });
  }
}

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** 75 → "1m15s". */
function formatSeconds(seconds: number): string {
  const whole = Math.ceil(seconds);
  return whole < 60 ? `${whole}s` : `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}

/** "0.12 s (833.3 KiB/s)". */
function timeAndRate(bytes: number, seconds: number): string {
  return `${seconds.toFixed(2)} s (${formatBytes(bytes / Math.max(seconds, 0.001))}/s)`;
}

/** Where a progress bar is drawn, and what it needs to know (replaceable in tests). */
export interface ProgressOptions {
  /** Default process.stderr; nothing is drawn unless it is a terminal. */
  stream?: { isTTY?: boolean; write(text: string): unknown };
  /** Default process.env; nothing is drawn when CI is set (logs are not terminals). */
  env?: Record<string, string | undefined>;
  /** Milliseconds; default Date.now. */
  now?: () => number;
}

/** Short operations stay quiet: no bar before this much time has passed. */
const QUIET_MS = 300;
const REDRAW_MS = 100;
/** A rate (and so an ETA) is only shown after this long, when it means something. */
const RATE_AFTER_MS = 1000;
const CLEAR_LINE = '\r\x1b[K';

/**
 * A progress bar on standard error when it is a terminal: bytes, percentage, and once
 * known the rate and ETA. When done, the bar is replaced by one line with the bytes,
 * time and rate.
 */
export class Progress {
  #done = 0;
  #lastDraw = 0;
  #drawn = false;
  readonly #started: number;
  readonly #enabled: boolean;
  readonly #stream: { write(text: string): unknown };
  readonly #now: () => number;

  constructor(readonly label: string, public total: number | undefined, options: ProgressOptions = {}) {
    const stream = options.stream ?? process.stderr;
    this.#stream = stream;
    this.#now = options.now ?? Date.now;
    this.#started = this.#now();
    this.#enabled = Boolean(stream.isTTY) && (options.env ?? process.env).CI === undefined;
  }

  /** An onProgress callback for the library's long operations. */
  readonly callback = (bytes: number, total: number): void => {
    this.total ??= total;
    this.add(bytes);
  };

  get bytes(): number {
    return this.#done;
  }

  /** Seconds since the start. */
  get seconds(): number {
    return (this.#now() - this.#started) / 1000;
  }

  add(bytes: number): void {
    this.#done += bytes;
    if (!this.#enabled) return;
    const now = this.#now();
    if (now - this.#started < QUIET_MS || now - this.#lastDraw < REDRAW_MS) return;
    this.#lastDraw = now;
    this.#drawn = true;
    this.#stream.write(`${CLEAR_LINE}${this.line(now)}`);
  }

  /** The bar as drawn at `now`. */
  line(now = this.#now()): string {
    const elapsedMs = now - this.#started;
    const rate = elapsedMs >= RATE_AFTER_MS && this.#done > 0 ? this.#done / (elapsedMs / 1000) : undefined;
    const parts = [this.label];
    if (this.total) {
      const fraction = Math.min(1, this.#done / this.total);
      const width = 24;
      parts.push(`[${'#'.repeat(Math.round(fraction * width)).padEnd(width, ' ')}]`, `${(fraction * 100).toFixed(0)}%`);
      parts.push(`${formatBytes(this.#done)} of ${formatBytes(this.total)}`);
    } else {
      parts.push(formatBytes(this.#done));
    }
    if (rate !== undefined) {
      parts.push(`${formatBytes(rate)}/s`);
      if (this.total) parts.push(`ETA ${formatSeconds(Math.max(0, this.total - this.#done) / rate)}`);
    }
    return parts.join(' ');
  }

  /**
   * Ends the bar: when one was drawn, it is cleared and (with `summary`, the default)
   * replaced by a line with the bytes, time and rate. A command that reports the
   * outcome itself passes false.
   */
  finish(summary = true): void {
    if (!this.#drawn) return;
    this.#drawn = false;
    const seconds = this.seconds;
    this.#stream.write(summary ? `${CLEAR_LINE}${this.label}: ${formatBytes(this.#done)} in ${timeAndRate(this.#done, seconds)}\n` : CLEAR_LINE);
  }
}

export interface WriteResult {
  bytes: number;
  seconds: number;
  /** The file written, or undefined for standard output. */
  path: string | undefined;
  /** For a file: "wrote 104857 bytes to out.img in 0.12 s (833.3 KiB/s)", for the command to print. */
  summary: string | undefined;
}

export interface WriteAllOptions {
  /** Leave holes for whole zero pages in a file (default true: a stream reads back the same either way). */
  sparse?: boolean;
  stdout?: StdoutLike;
  progress?: ProgressOptions;
}

/**
 * Writes a binary stream to `path` (or standard output, never a terminal), with a
 * progress bar; on any failure the output file is removed, so nothing is left
 * half-written.
 */
export async function writeAll(
  path: string | undefined,
  label: string,
  total: number,
  pieces: AsyncIterable<Uint8Array>,
  options: WriteAllOptions = {},
): Promise<WriteResult> {
  const out = await openOutput(path, { binary: true, sparse: options.sparse ?? true, stdout: options.stdout });
  const progress = new Progress(label, total, options.progress);
  try {
    for await (const piece of pieces) {
      await out.write(piece);
      progress.add(piece.length);
    }
    await out.finish();
  } catch (error) {
    progress.finish(false);
    await out.abandon();
    throw error;
  }
  const { bytes, seconds } = progress;
  // The command prints the file's summary; on standard output the bar's own last line says it.
  progress.finish(out.path === undefined);
  const summary = out.path === undefined ? undefined : `wrote ${bytes} bytes to ${out.path} in ${timeAndRate(bytes, seconds)}`;
  return { bytes, seconds, path: out.path, summary };
}
