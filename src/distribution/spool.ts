// The node's spool of `.snap` streams under <data>/node/versions-cache/. A stream is
// produced once per key (written to a temporary name, renamed into place once whole;
// requests for a key being produced share that one producer), then every download
// reads the file: a slow client never holds the volume's lock, and a cut download
// resumes from the same bytes. Production is deterministic (a stream for given image
// ids is the same bytes each time), so an evicted file is simply made again. Nothing is
// fsynced: the spool is a cache emptied when the node starts (Spool.open), so a crash
// loses nothing it needs, and a sync of a 1 GiB stream would take the disk from the
// imports the node and its clients run meanwhile.
//
// A producer that knows the stream's exact size before writing it declares it: from
// then on requests get the file while it grows (its Growth says how far it is written
// and wakes readers as it grows), so the first download need not wait for the whole
// stream. A production that fails, or writes other than the size it declared, cuts
// those readers off (Growth.reach rejects) and leaves no file.
//
// The spool is bounded by total bytes: past the cap, the least recently used files are
// removed, those no download has open first. A file that is being read may still be
// removed when nothing else is left to evict: on Linux (POSIX), unlinking a file leaves
// it readable through the descriptors already open on it, so the reader finishes; its
// space comes back when the last descriptor closes.

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { SnapcopyError } from '../errors.js';
import { makeDir, removeTree } from '../storage/file.js';

export interface SpoolFile {
  key: string;
  /** Where the file is once produced (while it grows it is under a temporary name: read it through Spool.open). */
  path: string;
  bytes: number;
  /** Present while (and after) the file was served as it was produced. */
  growth?: Growth;
}

interface Entry extends SpoolFile {
  lastUsed: number;
  readers: number;
}

/** What a producer writes through: pieces in order, and the stream's size once known. */
export interface SpoolWriter {
  write(bytes: Uint8Array): Promise<void>;
  /** The exact bytes the stream will hold: requests get the file from now on, while it grows. */
  declare(bytes: number): void;
}

/** Writes a stream's bytes (each piece written before the next is asked for). */
export type Producer = (out: SpoolWriter) => Promise<void>;

/** How far a file being produced is written; readers wait on it for bytes not written yet. */
export class Growth {
  #written = 0;
  #done = false;
  #failure: unknown;
  #wakers: (() => void)[] = [];

  constructor(readonly temp: string) {}

  get written(): number {
    return this.#written;
  }

  get done(): boolean {
    return this.#done;
  }

  get failure(): unknown {
    return this.#failure;
  }

  grew(bytes: number): void {
    this.#written += bytes;
    this.#wake();
  }

  finish(): void {
    this.#done = true;
    this.#wake();
  }

  fail(error: unknown): void {
    this.#failure = error ?? new Error('production failed');
    this.#wake();
  }

  /** The bytes written once more than `at` are (or production ended); rejects if production failed. */
  async reach(at: number): Promise<number> {
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#written > at || this.#done) return this.#written;
      await new Promise<void>((resolve) => this.#wakers.push(resolve));
    }
  }

  #wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }
}

export class Spool {
  readonly #entries = new Map<string, Entry>();
  /** Keys being produced: the file once declared (or once produced), for every request meanwhile. */
  readonly #producing = new Map<string, Promise<Entry>>();
  /** Entries of files being produced, so their readers are counted. */
  readonly #growing = new Map<string, Entry>();
  #total = 0;
  #clock = 0;

  private constructor(readonly dir: string, readonly capBytes: number) {}

  /** Opens the spool, emptied: what a previous run left is not trusted (its size is not counted). */
  static async open(dir: string, capBytes: number): Promise<Spool> {
    await removeTree(dir);
    await makeDir(dir);
    return new Spool(dir, capBytes);
  }

  /** Bytes the spool's files take. */
  get totalBytes(): number {
    return this.#total;
  }

  /** The spooled file of `key` if it is there (not produced on demand). */
  peek(key: string): SpoolFile | undefined {
    return this.#entries.get(key);
  }

  /** Whether `key` is being produced now. */
  producing(key: string): boolean {
    return this.#producing.has(key);
  }

  /**
   * The file of `key`, produced first when it is not spooled (one producer; others share
   * it): returned once the producer declares its size (then growing), or once produced.
   */
  async get(key: string, produce: Producer): Promise<SpoolFile> {
    const ready = this.#entries.get(key);
    if (ready) {
      ready.lastUsed = ++this.#clock;
      return ready;
    }
    let pending = this.#producing.get(key);
    if (!pending) {
      pending = this.#produce(key, produce);
      this.#producing.set(key, pending);
    }
    return pending;
  }

  /**
   * Opens `file` for reading and marks it read until `release` (the eviction prefers
   * files nobody reads). The handle stays valid even if the file is removed meanwhile.
   */
  async open(file: SpoolFile): Promise<{ handle: fs.FileHandle; release: () => void }> {
    const handle = await openCurrent(file);
    const entry = this.#entries.get(file.key) ?? this.#growing.get(file.key);
    if (entry) entry.readers++;
    let released = false;
    return {
      handle,
      release: () => {
        if (released) return;
        released = true;
        if (entry) entry.readers--;
      },
    };
  }

  /** Starts producing `key`; resolves with its entry once declared (growing) or produced. */
  #produce(key: string, produce: Producer): Promise<Entry> {
    const path = join(this.dir, `${key}.snap`);
    const growth = new Growth(`${path}.${randomBytes(4).toString('hex')}.tmp`);
    let announce!: (entry: Entry) => void;
    let refuse!: (error: unknown) => void;
    const announced = new Promise<Entry>((resolve, reject) => {
      announce = resolve;
      refuse = reject;
    });
    let declared: Entry | undefined;
    const writer = (out: fs.FileHandle): SpoolWriter => ({
      write: async (bytes) => {
        let at = 0;
        while (at < bytes.byteLength) at += (await out.write(bytes, at, bytes.byteLength - at, growth.written + at)).bytesWritten;
        growth.grew(bytes.byteLength);
      },
      declare: (bytes) => {
        if (declared) return;
        declared = { key, path, bytes, growth, lastUsed: ++this.#clock, readers: 0 };
        this.#growing.set(key, declared);
        announce(declared);
      },
    });
    const run = async (): Promise<Entry> => {
      const out = await fs.open(growth.temp, 'w', 0o600);
      try {
        await produce(writer(out));
        if (declared && growth.written !== declared.bytes) {
          throw new SnapcopyError('ERR_INTERNAL', `the stream ${key} came out ${growth.written} bytes long, not the ${declared.bytes} declared for it`);
        }
      } catch (error) {
        growth.fail(error); // before the file goes, so a reader opening it now hears why
        await out.close().catch(() => undefined);
        await fs.rm(growth.temp, { force: true });
        throw error;
      }
      await out.close();
      await fs.rename(growth.temp, path);
      const entry: Entry = declared ?? { key, path, bytes: growth.written, lastUsed: 0, readers: 0 };
      entry.lastUsed = ++this.#clock;
      this.#entries.set(key, entry);
      this.#total += entry.bytes;
      growth.finish();
      await this.#evict(entry);
      return entry;
    };
    run().then(announce, (error: unknown) => {
      growth.fail(error);
      refuse(error);
    }).finally(() => {
      this.#growing.delete(key);
      this.#producing.delete(key);
    });
    return announced;
  }

  /** Removes least recently used files until the spool fits its cap (never `keep`, just made). */
  async #evict(keep: Entry): Promise<void> {
    while (this.#total > this.capBytes) {
      const candidates = [...this.#entries.values()].filter((e) => e !== keep);
      if (candidates.length === 0) return;
      const idle = candidates.filter((e) => e.readers === 0);
      const victim = (idle.length ? idle : candidates).reduce((a, b) => (a.lastUsed <= b.lastUsed ? a : b));
      this.#entries.delete(victim.key);
      this.#total -= victim.bytes;
      await fs.rm(victim.path, { force: true });
    }
  }
}

/** Opens a spooled file: under its temporary name while it grows, or under its own once renamed. */
async function openCurrent(file: SpoolFile): Promise<fs.FileHandle> {
  const growth = file.growth;
  if (growth && !growth.done) {
    if (growth.failure !== undefined) throw growth.failure;
    try {
      return await fs.open(growth.temp, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      if (growth.failure !== undefined) throw growth.failure; // removed because production failed
      // renamed into place just now: open it there
    }
  }
  return fs.open(file.path, 'r');
}
