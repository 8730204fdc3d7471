// The stage of an import: what a checked stream leaves to do, in a form the apply can
// run through without checking again (the stage is made durable before volume.json
// names it, so after a crash it is whole). The stream's checksums were verified while
// it was staged; records whose blocks were written in place during staging (blocks
// not in use, or blocks in use whose before-images were saved first; see import.ts)
// keep only their extent, so the stage holds no copy of them.
//
//   "SNAPSTG1" | u32 n | n bytes of JSON (StageInfo) | records
//   record: u8 kind | 3 zero | u32 count | u32 start lo | u32 start hi | payload ('D' only)
// kinds: 'D' data in the stage, 'W' data written in place already (blocks not in use),
// 'O' blocks in use overwritten in place (their before-images are the undo), 'U' unused.

import { corrupt } from '../errors.js';
import type { BlockFile } from '../storage/file.js';

const MAGIC = 'SNAPSTG1';
const HEAD = 16;
const KINDS = { staged: 0x44, written: 0x57, overwritten: 0x4f, unused: 0x55 } as const;
export type StageKind = keyof typeof KINDS;

/** What the apply needs besides the records. */
export interface StageInfo {
  /** The image the import makes, and a person's name for it (`vol@tuesday`). */
  to: string;
  name: string;
  /**
   * The undo of blocks in use overwritten before the commit: their before-images are
   * the records of checkpoint `checkpoint`'s save volume from `records` on. An import
   * that does not commit puts them back and cuts the save volume there.
   */
  undo?: { checkpoint: string; records: number };
}

export interface StageExtent {
  kind: StageKind;
  start: number;
  count: number;
  /** Where a staged record's payload starts in the stage file. */
  at: number;
}

/** Appends records to a stage file. */
export class StageWriter {
  #at = 0;

  constructor(readonly file: BlockFile) {}

  async begin(info: StageInfo): Promise<void> {
    const json = new TextEncoder().encode(JSON.stringify(info));
    const head = new Uint8Array(12 + json.length);
    new TextEncoder().encodeInto(MAGIC, head);
    new DataView(head.buffer).setUint32(8, json.length, true);
    head.set(json, 12);
    await this.#write(head);
  }

  async add(kind: StageKind, start: number, count: number, payload?: Uint8Array): Promise<void> {
    const head = new Uint8Array(HEAD);
    const view = new DataView(head.buffer);
    view.setUint8(0, KINDS[kind]);
    view.setUint32(4, count, true);
    view.setUint32(8, start % 2 ** 32, true);
    view.setUint32(12, Math.floor(start / 2 ** 32), true);
    await this.#write(head);
    if (kind === 'staged') await this.#write(payload!);
  }

  async #write(bytes: Uint8Array): Promise<void> {
    await this.file.write(bytes, this.#at);
    this.#at += bytes.length;
  }
}

/** Reads the stage's info. */
export async function readStageInfo(file: BlockFile): Promise<{ info: StageInfo; end: number }> {
  const fixed = new Uint8Array(12);
  await file.read(fixed, 0);
  if (new TextDecoder().decode(fixed.subarray(0, 8)) !== MAGIC) throw corrupt(`${file.path} is not an import stage`);
  const n = new DataView(fixed.buffer).getUint32(8, true);
  const json = new Uint8Array(n);
  await file.read(json, 12);
  return { info: JSON.parse(new TextDecoder().decode(json)) as StageInfo, end: 12 + n };
}

/** The stage's records in order, heads only (payloads are read by the caller at `at`). */
export async function* stageExtents(file: BlockFile, blockSize: number): AsyncGenerator<StageExtent> {
  const { end } = await readStageInfo(file);
  const size = await file.size();
  const head = new Uint8Array(HEAD);
  const view = new DataView(head.buffer);
  const kinds = new Map<number, StageKind>(Object.entries(KINDS).map(([k, v]) => [v, k as StageKind]));
  for (let at = end; at < size;) {
    await file.read(head, at);
    const kind = kinds.get(view.getUint8(0));
    if (!kind) throw corrupt(`${file.path}: unknown record at byte ${at}`);
    const count = view.getUint32(4, true);
    const start = view.getUint32(8, true) + view.getUint32(12, true) * 2 ** 32;
    yield { kind, start, count, at: at + HEAD };
    at += HEAD + (kind === 'staged' ? count * blockSize : 0);
  }
}
