// import-diff: applies a delta stream to a volume whose image is the stream's base.
// The whole stream is checked while it is copied to a stage file; only a stream that
// checks out is committed (volume.json names the stage), then applied from the stage.
// A torn or corrupt stream never gets past the check, so the volume is untouched;
// a crash after the commit is finished on open, from the stage.

import { SnapcopyError } from '../errors.js';
import { type BlockFile, openFile, openFileReadOnly, removeFile } from '../storage/file.js';
import { granularityOf, type VolumeCore } from '../volume/core.js';
import { volumePaths } from '../volume/layout.js';
import { commitRecord, foldLogIfBig } from '../volume/record.js';
import type { Checkpoint } from './checkpoint.js';
import { type DeltaHeader, type StreamRecord, StreamReader } from './delta-stream.js';
import { redoRestore } from './queue.js';
import { writeBlocks, writeMeta } from './write-path.js';

export interface ImportResult {
  header: DeltaHeader;
  dataBlocks: number;
  unusedBlocks: number;
}

/** Refuses a stream made for another geometry. */
export function checkGeometry(core: VolumeCore, header: DeltaHeader): void {
  const r = core.record;
  if (header.blockSize !== r.blockSize || header.blocks !== r.blocks || header.granularity !== r.granularity) {
    throw new SnapcopyError('ERR_INVALID_ARGUMENT',
      `the stream is for ${header.blocks} blocks of ${header.blockSize} bytes at granularity ${header.granularity}; `
      + `${r.name} has ${r.blocks} of ${r.blockSize} at ${r.granularity}`);
  }
}

/**
 * Refuses a stream that does not fit this volume or does not start from its image
 * (or from `base`, the image a rollback restores first). The volume layer says the
 * same in words a user can act on before it gets here; this is the last guard.
 */
export function checkFits(core: VolumeCore, header: DeltaHeader, base: string | null = core.record.base): void {
  const r = core.record;
  checkGeometry(core, header);
  if (base !== header.from.id) {
    throw new SnapcopyError('ERR_WRONG_BASE',
      `the stream applies to image ${header.from.id} (${header.from.name}); ${r.name} `
      + (base ? `holds image ${base}` : 'has changed since its last known image'));
  }
}

/** Copies the stream to the stage file, checking all of it; returns its header when it checks out. */
async function stageStream(
  core: VolumeCore, source: AsyncIterable<Uint8Array>, stage: BlockFile, check: (header: DeltaHeader) => void,
): Promise<DeltaHeader> {
  const reader = new StreamReader();
  let at = 0;
  for await (const chunk of source) {
    const hadHeader = reader.header !== undefined;
    reader.push(chunk);
    if (!hadHeader && reader.header) check(reader.header);
    await stage.write(chunk, at);
    at += chunk.length;
  }
  reader.end();
  await stage.sync();
  return reader.header!;
}

/**
 * Stages, checks and applies a stream. With `rollbackTo`, the stream applies to that
 * checkpoint's image: the volume is restored to it and the stream applied as one
 * change (one commit names both), so a failure before the commit changes nothing.
 */
export async function importDiff(
  core: VolumeCore, source: AsyncIterable<Uint8Array>, options: { rollbackTo?: Checkpoint; base?: string } = {},
): Promise<ImportResult> {
  const path = volumePaths(core.dir).stage;
  const stage = await openFile(path, { create: true });
  const rollback = options.rollbackTo;
  let header: DeltaHeader;
  try {
    await stage.truncate(0);
    // The stream must start from the volume's image, or the rollback's; a base the
    // caller vouches for (an image between the stream's ends) needs the geometry only.
    const base = rollback ? rollback.record.image : core.record.base;
    const check = options.base !== undefined
      ? (header: DeltaHeader) => checkGeometry(core, header)
      : (header: DeltaHeader) => checkFits(core, header, base);
    header = await stageStream(core, source, stage, check);
  } catch (error) {
    await stage.close();
    await removeFile(path);
    throw error;
  }
  await stage.close();
  if (!rollback) {
    await commitRecord(core, { ...core.record, pending: { import: { to: header.to.id } } });
    return redoImport(core, header.to.id);
  }
  await commitRecord(core, { ...core.record, pending: { restore: rollback.record.id, import: { to: header.to.id } } });
  await redoRestore(core, rollback);
  return redoImport(core, header.to.id);
}

/** Applies a committed stage (again, after a crash: every step is idempotent) and finishes the import. */
export async function redoImport(core: VolumeCore, to: string): Promise<ImportResult> {
  const path = volumePaths(core.dir).stage;
  const stage = await openFileReadOnly(path);
  const reader = new StreamReader();
  let dataBlocks = 0;
  let unusedBlocks = 0;
  try {
    const size = await stage.size();
    const chunk = new Uint8Array(4 << 20);
    for (let at = 0; at < size; at += chunk.length) {
      const piece = chunk.subarray(0, Math.min(chunk.length, size - at));
      await stage.read(piece, at);
      for (const event of reader.push(piece.slice())) {
        if (event.type !== 'record') continue;
        await applyStreamRecord(core, event.record);
        if (event.record.kind === 'data') dataBlocks += event.record.count;
        else unusedBlocks += event.record.count;
      }
    }
    reader.end();
  } finally {
    await stage.close();
  }
  const header = reader.header!;
  const imported = { id: to, name: `${header.volume.name}@${header.to.name}` };
  await commitRecord(core, { ...core.record, base: to, imported, pending: undefined });
  await removeFile(path);
  await foldLogIfBig(core);
  return { header: reader.header!, dataBlocks, unusedBlocks };
}

/** Granules [first, end) that blocks [start, start + count) touch. */
function granules(core: VolumeCore, start: number, count: number): { start: number; count: number } {
  const g = granularityOf(core);
  const first = Math.floor(start / 2 ** g);
  const end = Math.ceil((start + count) / 2 ** g);
  return { start: first, count: end - first };
}

async function applyStreamRecord(core: VolumeCore, record: StreamRecord): Promise<void> {
  const span = granules(core, record.start, record.count);
  if (record.kind === 'data') {
    await writeBlocks(core, record.start, record.count, record.data!, [{ type: 'meta-set', ...span }]);
  } else {
    await writeMeta(core, [{ type: 'meta-clear', ...span }]);
  }
}
