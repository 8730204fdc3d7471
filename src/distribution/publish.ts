// snapcopy publish: a volume's versions as plain files any web server or CDN can serve
// (index.json, a full stream of the youngest version, deltas to it from the K versions
// before it). Clients (`snapcopy pull <url>`) take the same decisions from index.json
// as from a node.
//
// Crash-safe order, so a reader never finds the index naming a missing file:
//   1. each new stream is written to <name>.partial, fsynced and renamed into place
//      (a file for given ids is the same bytes each time, so one already there is kept);
//   2. the stream directories are fsynced, then index.json is replaced atomically;
//   3. only then are files removed that neither the new index nor the previous one
//      names (a client that read the previous index just before finds its files for
//      one more publish).
// A publish that would write the index it finds changes nothing.

import { promises as files } from 'node:fs';
import { join } from 'node:path';
import { SnapcopyError, invalidArgument } from '../errors.js';
import { lockDir } from '../storage/lock.js';
import { listDir, makeDir, readFileOrUndefined, syncDir, writeFileAtomic } from '../storage/file.js';
import type { VolumeStore } from '../volume/store.js';
import {
  DEFAULT_KEEP, INDEX_FILE, MAX_KEEP, type PublishedFile, type PublishedIndex, type PublishedVersion,
  filesFor, filesToRemove, indexText, parsePreviousIndex, versionsToPublish,
} from './publish-plan.js';
import { type DeltaEntry, type FullEntry, INDEX_FORMAT } from './index-format.js';

/** The points of a publish, in order, for tests that cut it short (kill -9 at one of them). */
export type PublishStep =
  | { step: 'stream-written'; path: string }
  | { step: 'index-written' }
  | { step: 'removed'; path: string };

export interface PublishOptions {
  /** Versions before the youngest that get a delta (default 7). */
  keep?: number;
  /** Called after each durable step. */
  onStep?: (step: PublishStep) => void | Promise<void>;
  /** Called with the bytes just written to a new stream file. */
  onProgress?: (bytes: number) => void;
}

export interface PublishResult {
  volume: string;
  dir: string;
  /** The youngest version published. */
  youngest: { image: string; name: string };
  versions: number;
  /** Stream files written by this run (relative paths). */
  written: string[];
  /** Stream files removed by this run. */
  removed: string[];
  /** Whether index.json changed. */
  indexChanged: boolean;
  /** Bytes of the stream files written by this run. */
  bytes: number;
}

const STREAM_DIRS = ['full', 'delta'] as const;
const PARTIAL = '.partial';

/** Publishes `fs`'s latest checkpoint and the `keep` versions before it into `dir`. */
export async function publishVersions(store: VolumeStore, volume: string, dir: string, options: PublishOptions = {}): Promise<PublishResult> {
  if (typeof volume !== 'string' || volume === '') throw invalidArgument('the volume to publish must be named');
  if (typeof dir !== 'string' || dir === '') throw invalidArgument('the directory to publish into must be named');
  const keep = options.keep ?? DEFAULT_KEEP;
  if (!Number.isInteger(keep) || keep < 0 || keep > MAX_KEEP) {
    throw invalidArgument(`keep (--keep) must be a whole number of versions from 0 to ${MAX_KEEP}, not ${String(options.keep)}`);
  }
  return publish(store, volume, dir, keep, options);
}

async function publish(store: VolumeStore, volume: string, dir: string, keep: number, options: PublishOptions): Promise<PublishResult> {
  const info = await store.info(volume);
  const versions = versionsToPublish(info.checkpoints, keep);
  const youngest = versions.at(-1);
  if (!youngest) throw new SnapcopyError('ERR_NOT_FOUND', `${volume} has no checkpoint to publish: make one first (snapcopy ckpt create ${volume})`);
  await makeDir(dir);
  const lock = await lockDir(dir, { what: `publish directory ${dir}` });
  try {
    for (const sub of STREAM_DIRS) await makeDir(join(dir, sub));
    const previousBytes = await readFileOrUndefined(join(dir, INDEX_FILE));
    const streams = await writeStreams(store, volume, dir, versions, options);
    const index: PublishedIndex = {
      format: INDEX_FORMAT, volume, size: info.size, blockSize: info.blockSize, versions, full: streams.full, deltas: streams.deltas,
    };
    const text = indexText(index);
    const indexChanged = previousBytes === undefined || text !== new TextDecoder().decode(previousBytes);
    if (indexChanged) await replaceIndex(dir, text, options);
    // An unchanged index keeps whatever files it kept before (nothing changes), but a
    // cut publish's temporary files never serve anyone.
    const present = await streamFiles(dir);
    const removable = indexChanged ? filesToRemove(present, index, parsePreviousIndex(previousBytes)) : present.filter((p) => p.endsWith(PARTIAL));
    await removeFiles(dir, removable, options);
    return {
      volume, dir, youngest: { image: youngest.image, name: youngest.name }, versions: versions.length,
      written: streams.written, removed: removable, indexChanged, bytes: streams.bytes,
    };
  } finally {
    await lock.release();
  }
}

/** Makes every stream the index will name (those not there yet), in index order. */
async function writeStreams(store: VolumeStore, volume: string, dir: string, versions: readonly PublishedVersion[], options: PublishOptions) {
  const planned = filesFor(versions);
  const written: string[] = [];
  let bytes = 0;
  const sized = async <F extends PublishedFile>(file: F): Promise<F> => {
    const made = await ensureStream(store, volume, dir, file, versions, options);
    if (made.written) {
      written.push(file.path);
      bytes += made.bytes;
      await options.onStep?.({ step: 'stream-written', path: file.path });
    }
    return { ...file, bytes: made.bytes };
  };
  const full: FullEntry[] = [];
  for (const f of planned.full) full.push(await sized(f));
  const deltas: DeltaEntry[] = [];
  for (const f of planned.deltas) deltas.push(await sized(f));
  return { full, deltas, written, bytes };
}

/** Replaces index.json once every stream it names (and the folders holding them) is durable. */
async function replaceIndex(dir: string, text: string, options: PublishOptions): Promise<void> {
  for (const sub of STREAM_DIRS) await syncDir(join(dir, sub));
  await syncDir(dir);
  await writeFileAtomic(join(dir, INDEX_FILE), text);
  await options.onStep?.({ step: 'index-written' });
}

async function removeFiles(dir: string, paths: readonly string[], options: PublishOptions): Promise<void> {
  for (const path of paths) {
    await files.rm(join(dir, path), { force: true });
    await options.onStep?.({ step: 'removed', path });
  }
  if (paths.length > 0) for (const sub of STREAM_DIRS) await syncDir(join(dir, sub));
}

/** The stream file for `file`, written unless already there; its size and whether this run wrote it. */
async function ensureStream(
  store: VolumeStore, volume: string, dir: string, file: PublishedFile, versions: readonly PublishedVersion[], options: PublishOptions,
): Promise<{ bytes: number; written: boolean }> {
  const target = join(dir, file.path);
  const existing = await sizeOf(target);
  if (existing !== undefined) return { bytes: existing, written: false };
  const nameOf = (image: string) => versions.find((v) => v.image === image)!.name;
  const older = file.from === undefined ? null : nameOf(file.from);
  const exported = await store.exportDiff(volume, older, nameOf(file.to));
  const bytes = await writeDurably(`${target}${PARTIAL}`, exported.pieces, (n) => options.onProgress?.(n));
  await files.rename(`${target}${PARTIAL}`, target);
  return { bytes, written: true };
}

/** Writes all of `pieces` to `path` (created or truncated) and fsyncs it; the byte count. */
async function writeDurably(path: string, pieces: AsyncIterable<Uint8Array>, onBytes: (added: number) => void): Promise<number> {
  const handle = await files.open(path, 'w', 0o644);
  let bytes = 0;
  try {
    // Pieces may share one buffer until the next is asked for: each is written out first.
    for await (const piece of pieces) {
      await handle.write(piece);
      bytes += piece.length;
      onBytes(piece.length);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return bytes;
}

/** The files under full/ and delta/, as relative paths. */
async function streamFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of STREAM_DIRS) for (const name of (await listDir(join(dir, sub))).sort()) out.push(`${sub}/${name}`);
  return out;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await files.stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}


