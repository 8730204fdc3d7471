// The seeded model test of the snapshot copy facility: random operations on a real
// volume in a temporary data directory (writes at any offset and length, discards,
// checkpoint create / delete / restore, delta-stream round trips, replication into a
// second volume, closing and reopening the directory), checked against the plain
// model of test/helpers/volume-model.ts: the live image, every checkpoint's image, and
// delta(L, M) for random pairs (exact when applied, near-minimal, well-formed).
//
// Replay a failure with SNAPCOPY_SEED=<seed> npx vitest run test/volume/model.test.ts
// (the seed is printed; each granularity / block size case derives its own from it).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDir, type DeltaHeader, EMPTY_IMAGE, SnapcopyError, StreamReader, type Volume } from '../../src/index.js';
import { backend } from '../helpers/backend.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { firstDifferentBlock, type ModelExtent, VolumeModel } from '../helpers/volume-model.js';

const SEED = testSeed('volume-model');
/** Operations per case (8 cases per backend). */
const OPS = 200;
const MAX_CHECKPOINTS = 7;

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function caseSeed(g: number, blockSize: number): number {
  return (Math.imul(SEED ^ (g * 0x9e37 + blockSize), 0x01000193) >>> 0) & 0x7fffffff;
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

function concat(pieces: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(pieces));
}

/** A stream's header and records, read with the library's own checking reader. */
function parseStream(bytes: Uint8Array): { header: DeltaHeader; records: Array<ModelExtent & { data?: Uint8Array }> } {
  const reader = new StreamReader();
  const records = [];
  for (const event of reader.push(bytes)) if (event.type === 'record') records.push(event.record);
  reader.end();
  return { header: reader.header!, records };
}

interface CloneCheckpoint {
  name: string;
  imageId: string;
  image: Uint8Array;
}

class Run {
  readonly prng: Prng;
  readonly model: VolumeModel;
  readonly log: string[] = [];
  readonly root: string;
  readonly dirA: string;
  readonly dirB: string;
  dataA!: DataDir;
  dataB!: DataDir;
  vol!: Volume;
  /** The replica in the second data directory. */
  clone!: Volume;
  /** Source checkpoint name -> its image id (from CheckpointInfo). */
  imageIds = new Map<string, string>();
  expectedBase: string | null = null;
  /** The source checkpoint whose image the clone holds (when not scribbled on). */
  cloneAt = '';
  cloneScribbled = false;
  cloneCheckpoints: CloneCheckpoint[] = [];
  #names = 0;
  #op = 0;
  stats = { writes: 0, discards: 0, checkpoints: 0, deletes: 0, restores: 0, rollForwards: 0, replications: 0, reopens: 0, clones: 0, deltas: 0, checks: 0 };

  constructor(readonly label: string, seed: number, readonly blocks: number, readonly blockSize: number, readonly g: number) {
    this.prng = new Prng(seed);
    this.model = new VolumeModel(blocks, blockSize, g);
    this.root = mkdtempSync(join(tmpdir(), 'snapcopy-model-'));
    roots.push(this.root);
    this.dirA = join(this.root, 'a');
    this.dirB = join(this.root, 'b');
  }

  get size(): number {
    return this.blocks * this.blockSize;
  }

  get G(): number {
    return 2 ** this.g;
  }

  fail(what: string): never {
    const tail = this.log.slice(-30).map((line) => `    ${line}`).join('\n');
    throw new Error(`${this.label} (SNAPCOPY_SEED=${SEED}), op ${this.#op}: ${what}\n  last operations (of ${this.log.length}):\n${tail}`);
  }

  note(line: string): void {
    this.log.push(`#${this.#op} ${line}`);
  }

  async open(): Promise<void> {
    this.dataA = await DataDir.open(this.dirA, { kernels: backend });
    this.dataB = await DataDir.open(this.dirB, { kernels: backend });
    this.vol = await this.dataA.volume('src');
    this.clone = await this.dataB.volume('dst');
  }

  async close(): Promise<void> {
    await this.dataA.close();
    await this.dataB.close();
  }

  /**
   * A fresh source volume with checkpoint c0 (the empty image), and in the second data
   * directory a fresh volume of the same geometry (also the empty image): the replica.
   */
  async setUp(): Promise<void> {
    this.dataA = await DataDir.open(this.dirA, { kernels: backend });
    this.dataB = await DataDir.open(this.dirB, { kernels: backend });
    const geometry = { size: this.size, blockSize: this.blockSize, granularity: this.g };
    this.vol = await this.dataA.createVolume('src', geometry);
    this.clone = await this.dataB.createVolume('dst', geometry);
    if (this.vol.base !== EMPTY_IMAGE || this.clone.base !== EMPTY_IMAGE) {
      this.fail(`new volumes have bases ${this.vol.base} and ${this.clone.base}, not the empty image`);
    }
    this.expectedBase = EMPTY_IMAGE;
    this.note('create volumes src and dst');
    await this.opCheckpoint('c0');
    if (this.imageIds.get('c0') !== EMPTY_IMAGE) this.fail('the first checkpoint of a new volume does not hold the empty image');
    this.cloneAt = 'c0';
  }

  /** The image id of a source checkpoint, or of the empty image (null). */
  imageOf(name: string | null): string {
    return name === null ? EMPTY_IMAGE : this.imageIds.get(name)!;
  }

  // Random inputs.

  data(length: number): Uint8Array {
    const r = this.prng.float();
    const bytes = new Uint8Array(length);
    if (r < 0.15) return bytes;
    if (r < 0.3) return bytes.fill(this.prng.int(1, 255));
    return this.prng.fill(bytes);
  }

  pickWrite(): [kind: string, offset: number, length: number] {
    const p = this.prng;
    const B = this.blockSize;
    const S = this.size;
    const clamp = (offset: number, length: number): [number, number] => {
      const o = Math.max(0, Math.min(offset, S - 1));
      return [o, Math.max(1, Math.min(length, S - o))];
    };
    const r = p.int(0, 99);
    if (r < 14) return ['byte', p.int(0, S - 1), 1];
    if (r < 38) return ['small', ...clamp(p.int(0, S - 1), p.int(1, 2 * B))];
    if (r < 56) {
      const granules = Math.ceil(this.blocks / this.G);
      if (granules < 2) return ['small', ...clamp(p.int(0, S - 1), p.int(1, 2 * B))];
      const boundary = p.int(1, granules - 1) * this.G * B;
      return ['granule-edge', ...clamp(boundary - p.int(1, this.G * B), p.int(2, 2 * this.G * B))];
    }
    if (r < 66) {
      const b = p.int(1, this.blocks - 1);
      return ['block-edge', ...clamp(b * B - p.int(1, B - 1), p.int(2, 3 * B))];
    }
    if (r < 82) {
      const start = p.int(0, this.blocks - 1);
      const count = Math.min(p.runLength(2 * this.G + 2), this.blocks - start);
      return ['aligned', start * B, count * B];
    }
    if (r < 95) return ['large', ...clamp(p.int(0, S - 1), p.int(1, 40 * B))];
    if (r < 98) return ['whole', 0, S];
    return ['empty', p.int(0, S), 0];
  }

  pickDiscard(): [kind: string, first: number, count: number] {
    const p = this.prng;
    const N = this.blocks;
    const G = this.G;
    const r = p.int(0, 99);
    if (r < 30) {
      const start = p.int(0, N - 1);
      return ['random', start, Math.min(p.runLength(2 * G + 1), N - start)];
    }
    if (r < 55) {
      const start = p.int(0, Math.ceil(N / G) - 1) * G;
      return ['granules', start, Math.min(G * p.int(1, 3), N - start)];
    }
    if (r < 72) {
      // Across one granule boundary, whole granules or not.
      const boundary = Math.min(N - 1, p.int(1, Math.max(1, Math.ceil(N / G) - 1)) * G);
      const start = Math.max(0, boundary - p.int(1, G));
      return ['across', start, Math.min(N - start, boundary - start + p.int(1, G))];
    }
    if (r < 86) {
      const start = p.int(0, N - 1);
      return ['to-end', start, N - start];
    }
    if (r < 94) return ['whole', 0, N];
    return ['none', p.int(0, N), 0];
  }

  /** Pieces of a stream cut at a few random points. */
  pieces(bytes: Uint8Array): Uint8Array[] {
    const cuts = new Set<number>();
    const n = this.prng.int(0, 6);
    for (let i = 0; i < n; i++) cuts.add(this.prng.int(1, Math.max(1, bytes.length - 1)));
    const sorted = [...cuts].sort((a, b) => a - b);
    const out: Uint8Array[] = [];
    let at = 0;
    for (const cut of [...sorted, bytes.length]) {
      if (cut > at) out.push(bytes.slice(at, cut));
      at = cut;
    }
    return out;
  }

  async *feed(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
    for (const piece of this.pieces(bytes)) yield piece;
  }

  newName(prefix: string): string {
    return `${prefix}${++this.#names}`;
  }

  // Operations.

  async step(): Promise<void> {
    const r = this.prng.int(0, 99);
    this.#op++;
    if (r < 34) return this.opWrite();
    if (r < 48) return this.opDiscard();
    if (r < 60) return this.model.checkpoints.length >= MAX_CHECKPOINTS ? this.opDelete() : this.opCheckpoint();
    if (r < 67) return this.opDelete();
    if (r < 73) return this.opRestore();
    if (r < 78) return this.opRollForward();
    if (r < 86) return this.opReplicate();
    if (r < 89) return this.opCloneCheckpoint();
    if (r < 92) return this.opCloneScribble();
    if (r < 95) return this.opReopen();
    if (r < 96) return this.opCloneInPlace();
    return this.opCheckDeltas(2);
  }

  async opWrite(): Promise<void> {
    const [kind, offset, length] = this.pickWrite();
    const data = this.data(length);
    this.note(`write(${offset}, ${length} bytes) ${kind} [blocks ${Math.floor(offset / this.blockSize)}..${Math.ceil((offset + length) / this.blockSize) - 1}]`);
    await this.vol.write(offset, data);
    this.model.write(offset, data);
    if (length > 0) this.expectedBase = null;
    this.stats.writes++;
  }

  async opDiscard(): Promise<void> {
    const [kind, first, count] = this.pickDiscard();
    this.note(`discard blocks [${first}, ${first + count}) ${kind}`);
    await this.vol.discard(first * this.blockSize, count * this.blockSize);
    this.model.discard(first, count);
    if (count > 0) this.expectedBase = null;
    this.stats.discards++;
  }

  async opCheckpoint(chosen?: string): Promise<void> {
    const name = chosen ?? this.newName('c');
    this.note(`createCheckpoint(${name})`);
    const info = await this.vol.createCheckpoint(name);
    this.model.createCheckpoint(name);
    if (info.name !== name) this.fail(`createCheckpoint(${name}) made ${info.name}`);
    const image = this.expectedBase ?? info.id;
    if (info.image !== image) this.fail(`checkpoint ${name} holds image ${info.image}, expected ${image}`);
    this.imageIds.set(name, info.image);
    this.expectedBase = info.image;
    this.stats.checkpoints++;
  }

  async opDelete(): Promise<void> {
    const candidates = this.model.checkpoints.map((c) => c.name).filter((n) => n !== this.cloneAt);
    if (candidates.length === 0) return;
    const where = this.prng.pick(['head', 'middle', 'tail'] as const);
    const name = where === 'head' ? candidates[0]! : where === 'tail' ? candidates[candidates.length - 1]! : this.prng.pick(candidates);
    this.note(`deleteCheckpoint(${name}) (${where} of ${this.model.checkpoints.map((c) => c.name).join(',')})`);
    await this.vol.deleteCheckpoint(name);
    this.model.deleteCheckpoint(name);
    this.imageIds.delete(name);
    this.stats.deletes++;
  }

  async opRestore(): Promise<void> {
    if (this.model.checkpoints.length === 0) return;
    const name = this.prng.pick(this.model.checkpoints).name;
    this.note(`restore(${name})`);
    await this.vol.restore(name);
    this.model.restore(name);
    this.expectedBase = this.imageIds.get(name)!;
    this.stats.restores++;
  }

  /**
   * Exports delta(L, M) (M a younger checkpoint or the live volume; L sometimes the
   * empty image), restores L, imports the stream: the live image is M's again.
   */
  async opRollForward(): Promise<void> {
    const ckpts = this.model.checkpoints;
    if (ckpts.length === 0) return;
    const li = this.prng.int(0, ckpts.length - 1);
    const restoreTo = ckpts[li]!.name;
    // A checkpoint holding the empty image can take a full stream (from the empty image).
    const older = this.imageOf(restoreTo) === EMPTY_IMAGE && this.prng.chance(0.5) ? null : restoreTo;
    const newer = li + 1 < ckpts.length && this.prng.chance(0.6) ? ckpts[this.prng.int(li + 1, ckpts.length - 1)]!.name : undefined;
    const target = this.model.state(newer);
    const targetImage = target.image.slice();
    const targetMeta = target.meta.slice();
    this.note(`exportDiff(${older}, ${newer ?? 'live'}), restore(${restoreTo}), importDiff`);
    const bytes = concat(await collect(this.vol.exportDiff(older, newer)));
    const { header, records } = parseStream(bytes);
    this.checkHeader(header, older, newer);
    this.checkExtents(`exportDiff(${older}, ${newer ?? 'live'})`, older, newer, records);
    await this.vol.restore(restoreTo);
    this.model.restore(restoreTo);
    this.expectedBase = this.imageOf(restoreTo);
    const result = await this.vol.importDiff(this.feed(bytes));
    this.model.imported(targetImage, targetMeta, records);
    this.expectedBase = header.to.id;
    this.checkResult(result, records);
    this.stats.rollForwards++;
  }

  checkHeader(header: DeltaHeader, older: string | null, newer: string | undefined): void {
    const what = `the header of exportDiff(${older}, ${newer ?? 'live'})`;
    if (header.from.id !== this.imageOf(older)) this.fail(`${what}: from ${header.from.id}, not ${older}'s image`);
    if (newer !== undefined && header.to.id !== this.imageOf(newer)) this.fail(`${what}: to ${header.to.id}, not ${newer}'s image`);
    if (newer === undefined && this.expectedBase !== null && header.to.id !== this.expectedBase) {
      this.fail(`${what}: to ${header.to.id}, but the live volume holds image ${this.expectedBase}`);
    }
    if (newer === undefined && this.expectedBase === null && [...this.imageIds.values(), EMPTY_IMAGE].includes(header.to.id)) {
      this.fail(`${what}: the changed live volume is named as the known image ${header.to.id}`);
    }
    if (header.blocks !== this.blocks || header.blockSize !== this.blockSize || header.granularity !== this.g) {
      this.fail(`${what}: geometry ${header.blocks} x ${header.blockSize} g${header.granularity}`);
    }
  }

  checkResult(result: { dataBlocks: number; unusedBlocks: number }, records: readonly ModelExtent[]): void {
    const data = records.filter((r) => r.kind === 'data').reduce((s, r) => s + r.count, 0);
    const unused = records.filter((r) => r.kind === 'unused').reduce((s, r) => s + r.count, 0);
    if (result.dataBlocks !== data || result.unusedBlocks !== unused) {
      this.fail(`importDiff reported ${result.dataBlocks} data / ${result.unusedBlocks} unused blocks; the stream has ${data} / ${unused}`);
    }
  }

  /** Sends delta(cloneAt, M) for a younger source checkpoint M to the replica in the second data directory. */
  async opReplicate(): Promise<void> {
    if (this.cloneScribbled) return;
    const from = this.model.indexOf(this.cloneAt);
    const younger = this.model.checkpoints.slice(from + 1);
    if (younger.length === 0) return;
    const newer = this.prng.pick(younger).name;
    // While the replica holds the empty image, a full stream fits it as well.
    const older = this.imageOf(this.cloneAt) === EMPTY_IMAGE && this.prng.chance(0.5) ? null : this.cloneAt;
    this.note(`replicate: exportDiff(${older}, ${newer}) -> dst.importDiff`);
    const bytes = concat(await collect(this.vol.exportDiff(older, newer)));
    const { header, records } = parseStream(bytes);
    this.checkHeader(header, older, newer);
    // A stream that does not start from the replica's image is refused, and changes nothing.
    const others = this.model.checkpoints.filter((c) => this.imageOf(c.name) !== this.imageOf(this.cloneAt)
      && this.model.indexOf(c.name) < this.model.indexOf(newer));
    if (others.length > 0 && this.prng.chance(0.3)) {
      const wrong = this.prng.pick(others).name;
      const stream = concat(await collect(this.vol.exportDiff(wrong, newer)));
      if (this.imageOf(newer) === this.imageOf(this.cloneAt)) {
        // The replica already holds the stream's result: nothing to do, whatever its base.
        const already = await this.clone.importDiff(this.feed(stream));
        if (!already.alreadyAt || already.dataBlocks !== 0) this.fail(`exportDiff(${wrong}, ${newer}) into dst at ${this.cloneAt} was not "already at"`);
        await this.checkClone();
      } else {
        await this.expectRefused(this.clone, stream, 'ERR_WRONG_BASE', `exportDiff(${wrong}, ${newer}) into dst at ${this.cloneAt}`);
      }
    }
    const result = await this.clone.importDiff(this.feed(bytes));
    this.checkResult(result, records);
    this.cloneAt = newer;
    if (this.clone.base !== this.imageOf(newer)) this.fail(`after the import dst's base is ${this.clone.base}, not ${newer}'s image`);
    await this.checkClone();
    this.stats.replications++;
  }

  /** DataDir.clone of a random checkpoint into a new volume of the source's data directory (a few per run). */
  async opCloneInPlace(): Promise<void> {
    if (this.stats.clones >= 2 || this.model.checkpoints.length === 0) return;
    const ckpt = this.prng.pick(this.model.checkpoints);
    const name = this.newName('copy');
    this.note(`dataA.clone(${ckpt.name}, ${name})`);
    const copy = await this.dataA.clone(ckpt.name, name);
    this.stats.clones++;
    if (copy.base !== this.imageOf(ckpt.name)) this.fail(`clone ${name}'s base is ${copy.base}, not ${ckpt.name}'s image`);
    if (copy.blocks !== this.blocks || copy.blockSize !== this.blockSize || copy.granularity !== this.g) this.fail(`clone ${name} has another geometry`);
    if (copy.listCheckpoints().length !== 0) this.fail(`clone ${name} has checkpoints`);
    await this.sameImage(`clone ${name} of ${ckpt.name}`, await copy.read(0, this.size), ckpt.image, ckpt.meta);
    // Its image is the checkpoint's, in-use map included: a delta from it is empty.
    const k = await copy.createCheckpoint(this.newName('copyck'));
    if (k.image !== this.imageOf(ckpt.name)) this.fail(`a checkpoint of clone ${name} holds image ${k.image}, not ${ckpt.name}'s`);
    const size = await copy.diffSize(null, k.name);
    const inUse = ckpt.meta.reduce((n, bit, i) => n + (bit ? this.model.granuleBlocks(i)[1] - this.model.granuleBlocks(i)[0] : 0), 0);
    if (size.dataBlocks !== inUse || size.unusedBlocks !== 0) this.fail(`clone ${name}: diffSize(null, ${k.name}) is ${JSON.stringify(size)}, ${inUse} blocks are in use`);
  }

  async expectRefused(volume: Volume, stream: Uint8Array, code: string, what: string): Promise<void> {
    const before = await volume.read(0, volume.size);
    const base = volume.base;
    let error: unknown;
    try {
      await volume.importDiff(this.feed(stream));
    } catch (e) {
      error = e;
    }
    if (!(error instanceof SnapcopyError) || error.code !== code) this.fail(`${what}: expected ${code}, got ${String(error)}`);
    const after = await volume.read(0, volume.size);
    if (firstDifferentBlock(before, after, this.blockSize) >= 0 || volume.base !== base) this.fail(`${what}: the refused import changed the volume`);
  }

  async opCloneCheckpoint(): Promise<void> {
    if (this.cloneScribbled) return;
    const name = this.newName('k');
    this.note(`clone.createCheckpoint(${name}) at ${this.cloneAt}`);
    const info = await this.clone.createCheckpoint(name);
    if (info.image !== this.imageIds.get(this.cloneAt)) this.fail(`clone checkpoint ${name} holds image ${info.image}, not ${this.cloneAt}'s`);
    this.cloneCheckpoints.push({ name, imageId: info.image, image: this.model.find(this.cloneAt).image.slice() });
    if (this.cloneCheckpoints.length > 3) {
      const gone = this.cloneCheckpoints.shift()!;
      this.note(`clone.deleteCheckpoint(${gone.name})`);
      await this.clone.deleteCheckpoint(gone.name);
    }
  }

  /** Writes junk on the clone (imports are refused now), then restores a clone checkpoint whose image the source still has. */
  async opCloneScribble(): Promise<void> {
    const sourceImages = new Map<string, string>();
    for (const c of this.model.checkpoints) sourceImages.set(this.imageIds.get(c.name)!, c.name);
    const usable = this.cloneCheckpoints.filter((k) => sourceImages.has(k.imageId));
    if (usable.length === 0) return;
    const offset = this.prng.int(0, this.size - 1);
    const junk = this.prng.fill(new Uint8Array(Math.min(this.size - offset, this.prng.int(1, 3 * this.blockSize))));
    this.note(`clone.write(${offset}, ${junk.length} bytes)`);
    await this.clone.write(offset, junk);
    this.cloneScribbled = true;
    if (this.clone.base !== null) this.fail(`a write left the clone's base at ${this.clone.base}`);
    const from = this.model.indexOf(this.cloneAt);
    if (from >= 0 && from + 1 < this.model.checkpoints.length) {
      const newer = this.model.checkpoints[from + 1]!.name;
      const stream = concat(await collect(this.vol.exportDiff(this.cloneAt, newer)));
      await this.expectRefused(this.clone, stream, 'ERR_WRONG_BASE', `exportDiff(${this.cloneAt}, ${newer}) into the written-on clone`);
    }
    const k = this.prng.pick(usable);
    this.note(`clone.restore(${k.name})`);
    await this.clone.restore(k.name);
    if (this.clone.base !== k.imageId) this.fail(`after clone.restore(${k.name}) its base is ${this.clone.base}, not ${k.imageId}`);
    this.cloneScribbled = false;
    this.cloneAt = sourceImages.get(k.imageId)!;
    await this.checkClone();
  }

  async opReopen(): Promise<void> {
    this.note('close and reopen both data directories');
    await this.close();
    await this.open();
    this.stats.reopens++;
    await this.check();
  }

  // Checks.

  async sameImage(what: string, actual: Uint8Array, expected: Uint8Array, meta?: Uint8Array): Promise<void> {
    const bad = firstDifferentBlock(actual, expected, this.blockSize);
    if (bad < 0) return;
    const B = this.blockSize;
    let at = bad * B;
    while (at < (bad + 1) * B && actual[at] === expected[at]) at++;
    const from = Math.max(bad * B, at - 4);
    const show = (bytes: Uint8Array) => Buffer.from(bytes.subarray(from, from + 16)).toString('hex');
    this.fail(`${what}: block ${bad} differs from byte ${at - bad * B} (granule ${bad >>> this.g}${meta ? `, in use ${meta[bad >>> this.g] === 1}` : ''}; `
      + `last changed t=${this.model.changed[bad]}, now t=${this.model.time}): at byte ${from - bad * B} read ${show(actual)}, expected ${show(expected)}`);
  }

  async checkClone(): Promise<void> {
    if (this.cloneScribbled) return;
    const expected = this.model.find(this.cloneAt);
    await this.sameImage(`the clone (at ${this.cloneAt})`, await this.clone.read(0, this.size), expected.image, expected.meta);
    if (this.clone.base !== this.imageIds.get(this.cloneAt)) this.fail(`the clone's base is ${this.clone.base}, not ${this.cloneAt}'s image`);
  }

  checkExtents(what: string, older: string | null, newer: string | undefined, extents: ReadonlyArray<ModelExtent & { data?: Uint8Array }>): void {
    const problems = this.model.checkDelta(older, newer, extents);
    if (problems.length > 0) {
      const shown = extents.slice(0, 12).map((e) => `${e.kind}[${e.start},+${e.count}]`).join(' ');
      this.fail(`${what}:\n      ${problems.join('\n      ')}\n    extents: ${shown}${extents.length > 12 ? ' ...' : ''}`);
    }
  }

  async checkDelta(older: string | null, newer: string | undefined): Promise<void> {
    const what = `delta(${older}, ${newer ?? 'live'})`;
    const chunks = await collect(this.vol.delta(older, newer));
    this.checkExtents(what, older, newer, chunks);
    const extents = await collect(this.vol.diff(older, newer));
    // diff gives whole extents; delta may cut a data extent into pieces.
    const merged: ModelExtent[] = [];
    for (const c of chunks) {
      const last = merged[merged.length - 1];
      if (last && last.kind === c.kind && c.kind === 'data' && last.start + last.count === c.start) last.count += c.count;
      else merged.push({ kind: c.kind, start: c.start, count: c.count });
    }
    const mergedDiff: ModelExtent[] = [];
    for (const e of extents) {
      const last = mergedDiff[mergedDiff.length - 1];
      if (last && last.kind === e.kind && e.kind === 'data' && last.start + last.count === e.start) last.count += e.count;
      else mergedDiff.push({ kind: e.kind, start: e.start, count: e.count });
    }
    if (JSON.stringify(merged) !== JSON.stringify(mergedDiff)) {
      this.fail(`diff(${older}, ${newer ?? 'live'}) and delta disagree:\n    diff  ${JSON.stringify(mergedDiff).slice(0, 400)}\n    delta ${JSON.stringify(merged).slice(0, 400)}`);
    }
    const size = await this.vol.diffSize(older, newer);
    const data = chunks.filter((c) => c.kind === 'data').reduce((s, c) => s + c.count, 0);
    const unused = chunks.filter((c) => c.kind === 'unused').reduce((s, c) => s + c.count, 0);
    if (size.dataBlocks !== data || size.unusedBlocks !== unused || size.dataBytes !== data * this.blockSize) {
      this.fail(`diffSize${what.slice(5)} = ${JSON.stringify(size)}, the extents hold ${data} data / ${unused} unused blocks`);
    }
    this.stats.deltas++;
  }

  /** delta(L, M) for `pairs` random pairs of checkpoints, and for a random L with the live volume. */
  async opCheckDeltas(pairs: number): Promise<void> {
    const ckpts = this.model.checkpoints;
    if (ckpts.length === 0) return;
    for (let i = 0; i < pairs && ckpts.length >= 2; i++) {
      const a = this.prng.int(0, ckpts.length - 2);
      const b = this.prng.int(a + 1, ckpts.length - 1);
      await this.checkDelta(ckpts[a]!.name, ckpts[b]!.name);
    }
    await this.checkDelta(this.prng.pick(ckpts).name, undefined);
    // And now and then a full delta (from the empty image) of a checkpoint or the live volume.
    if (this.prng.chance(0.25)) await this.checkDelta(null, this.prng.chance(0.5) ? this.prng.pick(ckpts).name : undefined);
  }

  async check(): Promise<void> {
    this.stats.checks++;
    const names = this.vol.listCheckpoints();
    const expectedNames = this.model.checkpoints.map((c) => c.name);
    if (JSON.stringify(names.map((c) => c.name)) !== JSON.stringify(expectedNames)) {
      this.fail(`listCheckpoints() is ${names.map((c) => c.name).join(',')}, expected ${expectedNames.join(',')}`);
    }
    for (const c of names) if (c.image !== this.imageIds.get(c.name)) this.fail(`checkpoint ${c.name} now holds image ${c.image}`);
    if (this.vol.base !== this.expectedBase) this.fail(`the volume's base is ${this.vol.base}, expected ${this.expectedBase}`);
    await this.sameImage('the live image', await this.vol.read(0, this.size), this.model.image, this.model.meta);
    for (const c of this.model.checkpoints) {
      await this.sameImage(`checkpoint ${c.name}'s image`, await this.vol.read(0, this.size, { checkpoint: c.name }), c.image, c.meta);
    }
    await this.opCheckDeltas(2);
    await this.checkClone();
    if (this.cloneCheckpoints.length > 0) {
      const k = this.prng.pick(this.cloneCheckpoints);
      await this.sameImage(`clone checkpoint ${k.name}'s image`, await this.clone.read(0, this.size, { checkpoint: k.name }), k.image);
    }
  }
}

const cases = [0, 1, 2, 3].flatMap((g) => [512, 4096].map((blockSize) => ({ g, blockSize })));

describe(`volume model (${backend})`, () => {
  for (const { g, blockSize } of cases) it(`g=${g}, ${blockSize}-byte blocks: random operations agree with the model`, async () => {
    const seed = caseSeed(g, blockSize);
    const prng = new Prng(seed);
    const blocks = blockSize === 512 ? prng.int(64, 300) : prng.int(64, 160);
    const run = new Run(`g=${g} B=${blockSize} N=${blocks}`, seed, blocks, blockSize, g);
    const started = performance.now();
    await run.setUp();
    try {
      let nextCheck = 0;
      for (let i = 0; i < OPS; i++) {
        await run.step();
        if (++nextCheck >= 6) {
          nextCheck = 0;
          await run.check();
        }
      }
      await run.check();
    } catch (error) {
      if (error instanceof Error && error.message.startsWith(run.label)) throw error;
      run.fail(`unexpected error: ${error instanceof Error ? error.stack : String(error)}`);
    } finally {
      await run.close().catch(() => undefined);
    }
    console.log(`[volume-model] ${run.label}: ${OPS} ops in ${Math.round(performance.now() - started)} ms, ${JSON.stringify(run.stats)}`);
    expect(run.stats.checks).toBeGreaterThan(0);
  });
});
