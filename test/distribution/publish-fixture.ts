// A source volume for the publish tests, with a plain model of which versions it holds
// (a version is an image: checkpoints with no write between them hold the same one),
// and a reader that checks a published directory the way a client would use it.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { DataDir } from '../../src/volume/data-dir.js';
import { LocalStore } from '../../src/volume/store.js';
import type { PublishedIndex } from '../../src/distribution/publish-plan.js';
import { backend } from '../helpers/backend.js';
import type { Prng } from '../helpers/prng.js';

export const BLOCK = 4096;
export const BLOCKS = 64;

interface ModelCheckpoint {
  name: string;
  /** Which write generation it froze: equal generations are one image. */
  generation: number;
}

export class Source {
  readonly checkpoints: ModelCheckpoint[] = [];
  #generation = 0;
  #count = 0;

  private constructor(public dir: DataDir, public store: LocalStore, readonly prng: Prng, readonly path: string) {}

  static async open(path: string, prng: Prng): Promise<Source> {
    const dir = await DataDir.open(path, { kernels: backend });
    const store = new LocalStore(dir);
    await store.create('v', { size: BLOCKS * BLOCK, blockSize: BLOCK });
    return new Source(dir, store, prng, path);
  }

  /** Lets go of the data directory (so a child process can open it). */
  async close(): Promise<void> {
    await this.store.close();
  }

  async reopen(): Promise<void> {
    this.dir = await DataDir.open(this.path, { kernels: backend });
    this.store = new LocalStore(this.dir);
  }

  /** A few seeded writes of fresh random data (always a change). */
  async write(): Promise<void> {
    const volume = await this.dir.volume('v');
    for (let i = this.prng.int(1, 4); i > 0; i--) {
      const count = this.prng.int(1, 6);
      const start = this.prng.int(0, BLOCKS - count);
      await volume.write(start * BLOCK, this.prng.fill(new Uint8Array(count * BLOCK)));
    }
    this.#generation++;
  }

  /** Every block written with fresh random data (a full stream of it is the whole volume). */
  async writeAll(): Promise<void> {
    await (await this.dir.volume('v')).write(0, this.prng.fill(new Uint8Array(BLOCKS * BLOCK)));
    this.#generation++;
  }

  async checkpoint(): Promise<string> {
    const name = `c${this.#count++}`;
    await this.store.createCheckpoint('v', name);
    this.checkpoints.push({ name, generation: this.#generation });
    return name;
  }

  async deleteCheckpoint(name: string): Promise<void> {
    await this.store.deleteCheckpoint(name, 'v');
    this.checkpoints.splice(this.checkpoints.findIndex((c) => c.name === name), 1);
  }

  /** The model's versions: one per generation, under its oldest checkpoint's name, the youngest K+1. */
  expectedVersionNames(keep: number): string[] {
    const seen = new Set<number>();
    const names: string[] = [];
    for (const c of this.checkpoints) {
      if (seen.has(c.generation)) continue;
      seen.add(c.generation);
      names.push(c.name);
    }
    return names.slice(-(keep + 1));
  }

  async read(checkpoint: string): Promise<Uint8Array> {
    return (await this.dir.volume('v')).read(0, BLOCKS * BLOCK, { checkpoint });
  }
}

export function readIndex(dir: string): PublishedIndex {
  return JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as PublishedIndex;
}

/** Stream files under full/ and delta/, as relative paths. */
export function streamFilesIn(dir: string): string[] {
  const out: string[] = [];
  for (const sub of ['full', 'delta']) {
    if (!existsSync(join(dir, sub))) continue;
    for (const name of readdirSync(join(dir, sub))) out.push(`${sub}/${name}`);
  }
  return out.sort();
}

/** Paths the index names that are missing or not the size it says (empty: the index is sound). */
export function unsoundPaths(dir: string, index: PublishedIndex): string[] {
  return [...index.full, ...(index.deltas ?? [])]
    .filter((f) => !existsSync(join(dir, f.path)) || statSync(join(dir, f.path)).size !== f.bytes)
    .map((f) => f.path);
}

/** Export pieces may share one buffer: each is copied before the next is asked for. */
async function* copied(pieces: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const piece of pieces) yield piece.slice();
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/**
 * Checks every file the index names as a client uses it: the full stream makes a copy
 * of the youngest version; each delta, applied to a copy of its older version (made
 * from the source), gives the youngest byte for byte.
 */
export async function checkPublished(source: Source, published: string, clientPath: string): Promise<void> {
  const index = readIndex(published);
  const youngest = index.versions.at(-1)!;
  const want = await source.read(youngest.name);
  const client = new LocalStore(await DataDir.open(clientPath, { kernels: backend }));
  try {
    let n = 0;
    await client.importDiff(`full${n}`, once(readFileSync(join(published, index.full[0]!.path))), {});
    const copy = await (await client.dir.volume(`full${n}`)).read(0, BLOCKS * BLOCK);
    expect(Buffer.from(copy).equals(want), `${index.full[0]!.path} gives ${youngest.name}`).toBe(true);
    for (const delta of index.deltas ?? []) {
      n++;
      const older = index.versions.find((v) => v.image === delta.from)!;
      const base = await source.store.exportDiff('v', null, older.name);
      await client.importDiff(`d${n}`, copied(base.pieces), {});
      const result = await client.importDiff(`d${n}`, once(readFileSync(join(published, delta.path))), {});
      expect(result.image).toBe(youngest.image);
      const got = await (await client.dir.volume(`d${n}`)).read(0, BLOCKS * BLOCK);
      expect(Buffer.from(got).equals(want), `${delta.path} applied to ${older.name} gives ${youngest.name}`).toBe(true);
    }
  } finally {
    await client.close();
  }
}
