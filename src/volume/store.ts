// Volumes by name: the one interface the command line works through, whether the
// volumes are in a local data directory (LocalStore, here) or behind a node's HTTP
// API (RemoteStore, src/node/volume-client.ts). The node serves its LocalStore with
// the same interface (src/node/volume-api.ts), so a command behaves the same either way.

import type { DeltaExtent, DeltaSize } from '../checkpoint/delta.js';
import { peekHeader } from '../checkpoint/stream-peek.js';
import { type DataDir, type OnProgress, type VolumeInfo, type VolumeOptions } from './data-dir.js';
import { parseVolumeSpec } from './names.js';
import type { CheckpointInfo, VolumeImportResult, VolumeMode } from './volume.js';

/** A stream of bytes whose length is known before the first byte. */
export interface SizedStream {
  bytes: number;
  pieces: AsyncIterable<Uint8Array>;
}

export interface ExportStream extends SizedStream {
  size: DeltaSize;
}

export interface ImportOutcome {
  volume: string;
  /** 'applied', 'created' (a new volume from a full stream), or 'already' (nothing to do). */
  result: 'applied' | 'created' | 'already';
  dataBlocks: number;
  unusedBlocks: number;
  /** The image the volume holds now, and a name for it (`vol@tuesday`). */
  image: string;
  imageName: string;
  rolledBackTo?: string;
}

export interface CopyOutcome {
  full: boolean;
  dataBlocks: number;
  unusedBlocks: number;
}

export interface VolumeStore {
  list(): Promise<VolumeInfo[]>;
  info(fs: string): Promise<VolumeInfo>;
  create(fs: string, options: VolumeOptions): Promise<VolumeInfo>;
  destroy(fs: string, options: { recursive?: boolean }): Promise<{ checkpoints: number }>;
  rename(fs: string, to: string): Promise<void>;
  resize(fs: string, size: number): Promise<VolumeInfo>;
  /** rw, ro or raw (durable); the mode a volume had before. */
  setMode(fs: string, mode: VolumeMode): Promise<{ mode: VolumeMode; was: VolumeMode }>;
  /** Writes all of `source` at `offset` as one atomic change; returns the bytes written. */
  write(fs: string, offset: number, source: AsyncIterable<Uint8Array>, size?: number): Promise<number>;
  /** `fs` or `fs@ckpt`; checked before the first byte. */
  read(spec: string, offset: number, length?: number): Promise<SizedStream>;
  discard(fs: string, offset: number, length: number): Promise<void>;
  createCheckpoint(fs: string, name?: string): Promise<CheckpointInfo>;
  listCheckpoints(fs: string): Promise<CheckpointInfo[]>;
  /** `fs@name`, or a bare name (of `fs` when given, else unambiguous in the store). Returns `fs@name`. */
  deleteCheckpoint(spec: string, fs?: string): Promise<string>;
  restore(fs: string, checkpoint: string, onProgress?: OnProgress): Promise<string>;
  diffSize(fs: string, older: string | null, newer?: string): Promise<DeltaSize>;
  diff(fs: string, older: string | null, newer?: string): Promise<AsyncIterable<DeltaExtent>>;
  /** delta(older, newer) as a stream (older null: a full stream from the empty image). */
  exportDiff(fs: string, older: string | null, newer?: string): Promise<ExportStream>;
  /** Applies a stream; creates `fs` from a full stream when it does not exist. */
  importDiff(fs: string, source: AsyncIterable<Uint8Array>, options: { rollback?: boolean; replica?: boolean }): Promise<ImportOutcome>;
  clone(checkpoint: string, fs: string, onProgress?: OnProgress): Promise<VolumeInfo>;
  copyDelta(newer: string, target: string, older: string, onProgress?: OnProgress): Promise<CopyOutcome>;
  close(): Promise<void>;
}

/** The store of a local data directory. */
export class LocalStore implements VolumeStore {
  constructor(readonly dir: DataDir) {}

  list(): Promise<VolumeInfo[]> {
    return this.dir.list();
  }

  info(fs: string): Promise<VolumeInfo> {
    return this.dir.info(fs);
  }

  async create(fs: string, options: VolumeOptions): Promise<VolumeInfo> {
    await this.dir.createVolume(fs, options);
    return this.dir.info(fs);
  }

  destroy(fs: string, options: { recursive?: boolean }): Promise<{ checkpoints: number }> {
    return this.dir.destroy(fs, options);
  }

  rename(fs: string, to: string): Promise<void> {
    return this.dir.rename(fs, to);
  }

  async resize(fs: string, size: number): Promise<VolumeInfo> {
    await (await this.dir.volume(fs)).resize(size);
    return this.dir.info(fs);
  }

  async write(fs: string, offset: number, source: AsyncIterable<Uint8Array>, size?: number): Promise<number> {
    return (await this.dir.volume(fs)).writeFrom(offset, source, { size });
  }

  async setMode(fs: string, mode: VolumeMode): Promise<{ mode: VolumeMode; was: VolumeMode }> {
    const volume = await this.dir.volume(fs);
    const was = volume.mode;
    await volume.setMode(mode);
    return { mode: volume.mode, was };
  }

  async read(spec: string, offset: number, length?: number): Promise<SizedStream> {
    const { volume: name, checkpoint } = parseVolumeSpec(spec);
    const volume = await this.dir.volume(name);
    const bytes = length ?? Math.max(0, volume.size - offset);
    // Zero-length reads check the checkpoint and both ends of the range before any byte moves.
    await volume.read(offset, 0, { checkpoint });
    await volume.read(offset + bytes, 0, { checkpoint });
    return { bytes, pieces: readPieces(volume, offset, bytes, checkpoint) };
  }

  async discard(fs: string, offset: number, length: number): Promise<void> {
    await (await this.dir.volume(fs)).discard(offset, length);
  }

  async createCheckpoint(fs: string, name?: string): Promise<CheckpointInfo> {
    return (await this.dir.volume(fs)).createCheckpoint(name);
  }

  async listCheckpoints(fs: string): Promise<CheckpointInfo[]> {
    return (await this.dir.volume(fs)).listCheckpoints();
  }

  async deleteCheckpoint(spec: string, fs?: string): Promise<string> {
    const { volume, checkpoint } = await this.dir.volumeOfCheckpoint(spec, fs);
    await volume.deleteCheckpoint(checkpoint);
    return `${volume.name}@${checkpoint}`;
  }

  async restore(fs: string, checkpoint: string, onProgress?: OnProgress): Promise<string> {
    const { volume, checkpoint: name } = await this.dir.volumeOfCheckpoint(checkpoint, fs);
    await volume.restore(name, { onProgress });
    return `${volume.name}@${name}`;
  }

  async diffSize(fs: string, older: string | null, newer?: string): Promise<DeltaSize> {
    return (await this.dir.volume(fs)).diffSize(older, newer);
  }

  async diff(fs: string, older: string | null, newer?: string): Promise<AsyncIterable<DeltaExtent>> {
    const volume = await this.dir.volume(fs);
    await volume.diffSize(older, newer); // refuses bad names before anything is printed
    return volume.diff(older, newer);
  }

  async exportDiff(fs: string, older: string | null, newer?: string): Promise<ExportStream> {
    const volume = await this.dir.volume(fs);
    const size = await volume.diffSize(older, newer);
    return { size, bytes: size.dataBytes, pieces: volume.exportDiff(older, newer, { transient: true }) };
  }

  async importDiff(fs: string, source: AsyncIterable<Uint8Array>, options: { rollback?: boolean; replica?: boolean }): Promise<ImportOutcome> {
    if (!(await this.dir.volumeNames()).includes(fs)) {
      const { header, stream } = await peekHeader(source);
      const volume = await this.dir.createFromStream(fs, header, stream);
      const size = { dataBlocks: header.dataBlocks, unusedBlocks: header.unusedBlocks };
      return { volume: volume.name, result: 'created', ...size, image: header.to.id, imageName: `${header.volume.name}@${header.to.name}` };
    }
    const volume = await this.dir.volume(fs);
    const result: VolumeImportResult = await volume.importDiff(source, options);
    const imageName = result.alreadyAt ?? `${result.header.volume.name}@${result.header.to.name}`;
    return {
      volume: volume.name, result: result.alreadyAt ? 'already' : 'applied', dataBlocks: result.dataBlocks,
      unusedBlocks: result.unusedBlocks, image: result.header.to.id, imageName,
      ...(result.rolledBackTo ? { rolledBackTo: result.rolledBackTo } : {}),
    };
  }

  async clone(checkpoint: string, fs: string, onProgress?: OnProgress): Promise<VolumeInfo> {
    await this.dir.clone(checkpoint, fs, { onProgress });
    return this.dir.info(fs);
  }

  copyDelta(newer: string, target: string, older: string, onProgress?: OnProgress): Promise<CopyOutcome> {
    return this.dir.copyDelta(newer, target, older, { onProgress });
  }

  close(): Promise<void> {
    return this.dir.close();
  }
}

const PIECE = 4 << 20;

async function* readPieces(
  volume: Awaited<ReturnType<DataDir['volume']>>, offset: number, length: number, checkpoint: string | undefined,
): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < length; at += PIECE) {
    yield await volume.read(offset + at, Math.min(PIECE, length - at), { checkpoint });
  }
}
