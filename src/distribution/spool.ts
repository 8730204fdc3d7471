// The node's spool of `.snap` streams under <data>/node/versions-cache/. A stream is
// produced once per key (written to a temporary name, fsynced, renamed into place;
// requests for a key being produced wait for that one producer), then every download
// reads the file: a slow client never holds the volume's lock, and a cut download
// resumes from the same bytes. Production is deterministic (a stream for given image
// ids is the same bytes each time), so an evicted file is simply made again.
//
// The spool is bounded by total bytes: past the cap, the least recently used files are
// removed, those no download has open first. A file that is being read may still be
// removed when nothing else is left to evict: on Linux (POSIX), unlinking a file leaves
// it readable through the descriptors already open on it, so the reader finishes; its
// space comes back when the last descriptor closes.

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { makeDir, removeTree } from '../storage/file.js';

export interface SpoolFile {
  key: string;
  path: string;
  bytes: number;
}

interface Entry extends SpoolFile {
  lastUsed: number;
  readers: number;
}

/** Writes a stream's bytes to the handle (each piece written before the next is asked for). */
export type Producer = (out: fs.FileHandle) => Promise<void>;

export class Spool {
  readonly #entries = new Map<string, Entry>();
  readonly #producing = new Map<string, Promise<Entry>>();
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

  /** The file of `key`, produced first when it is not spooled (one producer; others wait for it). */
  async get(key: string, produce: Producer): Promise<SpoolFile> {
    const ready = this.#entries.get(key);
    if (ready) {
      ready.lastUsed = ++this.#clock;
      return ready;
    }
    let pending = this.#producing.get(key);
    if (!pending) {
      pending = this.#produce(key, produce).finally(() => this.#producing.delete(key));
      this.#producing.set(key, pending);
    }
    return pending;
  }

  /**
   * Opens `file` for reading and marks it read until `release` (the eviction prefers
   * files nobody reads). The handle stays valid even if the file is removed meanwhile.
   */
  async open(file: SpoolFile): Promise<{ handle: fs.FileHandle; release: () => void }> {
    const handle = await fs.open(file.path, 'r');
    const entry = this.#entries.get(file.key);
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

  async #produce(key: string, produce: Producer): Promise<Entry> {
    const path = join(this.dir, `${key}.snap`);
    const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    const out = await fs.open(temp, 'w', 0o600);
    try {
      await produce(out);
      await out.sync();
    } catch (error) {
      await out.close().catch(() => undefined);
      await fs.rm(temp, { force: true });
      throw error;
    }
    await out.close();
    await fs.rename(temp, path);
    const { size } = await fs.stat(path);
    const entry: Entry = { key, path, bytes: size, lastUsed: ++this.#clock, readers: 0 };
    this.#entries.set(key, entry);
    this.#total += size;
    await this.#evict(entry);
    return entry;
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
