// The command line's edge: standard streams, files, and a progress bar. Commands
// only see the small interfaces here, so their logic stays in the library.

import { createReadStream, promises as fs } from 'node:fs';
import process from 'node:process';

const bytesOf = (data: Uint8Array | string): Uint8Array => (typeof data === 'string' ? new TextEncoder().encode(data) : data);

export interface Output {
  write(bytes: Uint8Array | string): Promise<void>;
  /** Makes the output durable (files) and closes it. */
  finish(): Promise<void>;
  /** Removes what was written (a file) after a failure, so nothing is left half-written. */
  abandon(): Promise<void>;
}

/** Chunks of a file, or of standard input for "-". */
export function readInput(path: string): AsyncIterable<Uint8Array> {
  return (path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 4 << 20 })) as AsyncIterable<Uint8Array>;
}

export async function inputSize(path: string): Promise<number | undefined> {
  if (path === '-') return undefined;
  return (await fs.stat(path)).size;
}

function stdoutOutput(): Output {
  return {
    write: (bytes) => new Promise<void>((resolve, reject) => {
      process.stdout.write(bytes, (error) => (error ? reject(error) : resolve()));
    }),
    finish: async () => {},
    abandon: async () => {},
  };
}

/** Standard output for "-" (or no path); otherwise a file written under a temporary name and renamed when done. */
export async function openOutput(path: string | undefined): Promise<Output> {
  if (path === undefined || path === '-') return stdoutOutput();
  if (path === '/dev/null' || path.startsWith('/dev/')) {
    const handle = await fs.open(path, 'w');
    return {
      write: async (bytes) => void (await handle.write(bytesOf(bytes))),
      finish: () => handle.close(),
      abandon: () => handle.close(),
    };
  }
  const temp = `${path}.partial`;
  const handle = await fs.open(temp, 'w', 0o644);
  return {
    write: async (bytes) => void (await handle.write(bytesOf(bytes))),
    finish: async () => {
      await handle.sync();
      await handle.close();
      await fs.rename(temp, path);
    },
    abandon: async () => {
      await handle.close().catch(() => undefined);
      await fs.rm(temp, { force: true });
    },
  };
}

/** A progress bar with rate and ETA on a terminal (standard error); silent otherwise. */
export class Progress {
  #done = 0;
  #started = Date.now();
  #last = 0;
  readonly #enabled: boolean;

  constructor(readonly label: string, public total: number | undefined) {
    this.#enabled = Boolean(process.stderr.isTTY) && process.env.CI === undefined;
  }

  /** An onProgress callback for the library's long operations. */
  readonly callback = (bytes: number, total: number): void => {
    this.total ??= total;
    this.add(bytes);
  };

  add(bytes: number): void {
    this.#done += bytes;
    const now = Date.now();
    if (this.#enabled && now - this.#last > 100) {
      this.#last = now;
      this.#draw(now);
    }
  }

  #draw(now: number): void {
    const seconds = Math.max(0.001, (now - this.#started) / 1000);
    const rate = this.#done / seconds;
    const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    let line = `${this.label} ${mb(this.#done)} ${mb(rate)}/s`;
    if (this.total) {
      const fraction = Math.min(1, this.#done / this.total);
      const width = 24;
      const bar = '#'.repeat(Math.round(fraction * width)).padEnd(width, ' ');
      const eta = rate > 0 ? Math.ceil((this.total - this.#done) / rate) : 0;
      line = `${this.label} [${bar}] ${(fraction * 100).toFixed(0)}% ${mb(rate)}/s ETA ${eta}s`;
    }
    process.stderr.write(`\r${line}\x1b[K`);
  }

  finish(): void {
    if (this.#enabled) process.stderr.write('\r\x1b[K');
  }
}

/**
 * Writes every piece to `path` (or standard output), with a progress bar; on any
 * failure the output file is removed, so nothing is left half-written.
 */
export async function writeAll(path: string | undefined, label: string, total: number, pieces: AsyncIterable<Uint8Array>): Promise<void> {
  const out = await openOutput(path);
  const progress = new Progress(label, total);
  try {
    for await (const piece of pieces) {
      await out.write(piece);
      progress.add(piece.length);
    }
    await out.finish();
  } catch (error) {
    await out.abandon();
    throw error;
  } finally {
    progress.finish();
  }
}
