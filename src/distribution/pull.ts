// pull: brings a local volume to a version of a source (a node's volume, or a published
// directory), all or nothing (the seed's FIG. 37/38 on the client's side):
//   - the version held (Q) is the image the local volume equals: its latest checkpoint's
//     after a pull (none when the volume is absent);
//   - with tmin, nothing is asked until tmin seconds have passed since the last update (Tu);
//   - the source decides (a node answers /update; a directory's index.json is decided
//     here with the same function): up to date, one delta Q → wanted, or a full copy;
//   - the stream is imported as it is downloaded; a cut connection is resumed with Range
//     inside the same import (download.ts), so nothing is kept on disk but the volume's
//     own writes. A source that cannot be reached again fails the import (imports are all
//     or nothing, so it changed nothing); one that answers a resume with another stream
//     makes the import start over from the first byte. A delta goes in with
//     Volume.importDiff (checked whole before anything changes, so a corrupt stream
//     leaves the volume as it was); a full copy into an absent
//     volume creates it; a full copy over an existing volume (too old, or foreign) is built
//     beside it as <fs>.pull-new and swapped in by renames, so no crash leaves a
//     half-written volume under <fs> (a swap cut short is finished by the next pull);
//   - the volume gets a checkpoint of the version (named as on the source when the name
//     is free) and <data>/pulls/<fs>.json records Q, Tu and the source.

import { peekHeader } from '../checkpoint/stream-peek.js';
import { SnapcopyError, invalidArgument } from '../errors.js';
import { checkName, EMPTY_IMAGE } from '../engine/layout.js';
import type { DataDir } from '../volume/data-dir.js';
import type { Volume } from '../volume/volume.js';
import { decideUpdate, type UpdateDecision } from './decide.js';
import { answerError, authHeaders, Download } from './download.js';
import { MAX_INDEX_BYTES, parseIndex } from './index-format.js';
import { readPullRecord, writePullRecord } from './pull-record.js';

/** Where versions come from: a node's volume (it decides), or a published directory (decided here). */
export type PullSource =
  | { kind: 'node'; label: string; address: string; volume: string; token: string }
  | { kind: 'url'; url: string; token?: string };

export interface PullOptions {
  /** A version to pull (image id or checkpoint name) instead of the youngest. */
  version?: string;
  /** Ask nothing when the last update was less than this many seconds ago. */
  tmin?: number;
  /** Download attempts in a row that bring nothing before giving up (default 5). */
  retries?: number;
  onBytes?: (have: number, total: number | undefined) => void;
}

export interface PullOutcome {
  /** 'skipped': --tmin had not passed since the last update, so the source was not asked. */
  result: 'up-to-date' | 'delta' | 'full' | 'skipped';
  volume: string;
  /** The image held before (null: none). */
  from: string | null;
  /** The image held after. */
  to: string | null;
  /** Bytes downloaded. */
  bytes: number;
  seconds: number;
  /** For 'skipped': seconds until tmin has passed. */
  next?: number;
}

/** What the record and messages call a source. */
export function sourceLabel(source: PullSource): string {
  return source.kind === 'node' ? `${source.label}:${source.volume}` : source.url;
}

function baseUrl(source: PullSource): string {
  if (source.kind === 'node') return `http://${source.address}/v1/versions/${encodeURIComponent(source.volume)}/`;
  return source.url.endsWith('/') ? source.url : `${source.url}/`;
}

/** `<node>:<fs>` (the node a name or host:port) or an http(s) URL, as a source. */
export function parseSource(text: string): { kind: 'url'; url: string } | { kind: 'node'; node: string; volume: string } {
  if (/^https?:\/\//i.test(text)) {
    try {
      return { kind: 'url', url: new URL(text).href };
    } catch {
      throw invalidArgument(`${text} is not a valid URL`);
    }
  }
  const at = text.lastIndexOf(':');
  if (at <= 0 || at === text.length - 1) throw invalidArgument(`the source must be <node>:<fs> or an http(s) URL, not ${JSON.stringify(text)}`);
  return { kind: 'node', node: text.slice(0, at), volume: checkName('volume', text.slice(at + 1)) };
}

async function getJson(url: string, token: string | undefined, limit: number): Promise<Uint8Array> {
  let response: Response;
  const get = () => fetch(url, { headers: authHeaders(token) });
  try {
    // Once more at once: a kept-alive connection the server closed meanwhile fails the first try.
    response = await get().catch(get);
  } catch (error) {
    throw new SnapcopyError('ERR_UNREACHABLE', `GET ${url}: ${(error as Error).message}`, { cause: error });
  }
  if (response.status !== 200) throw await answerError(response, `GET ${url}`);
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > limit) {
    await response.body?.cancel();
    throw new SnapcopyError('ERR_CORRUPT', `${url} is larger than ${limit} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    if (bytes > limit) throw new SnapcopyError('ERR_CORRUPT', `${url} is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The decision for a client holding `held`: asked of a node, or made here from a directory's index. */
async function decide(source: PullSource, held: string | null, version: string | undefined): Promise<UpdateDecision> {
  const base = baseUrl(source);
  if (source.kind === 'url') return decideUpdate(parseIndex(await getJson(`${base}index.json`, source.token, MAX_INDEX_BYTES)), held, version);
  const query = new URLSearchParams({ ...(held ? { have: held } : {}), ...(version ? { version } : {}) });
  const answer = JSON.parse(Buffer.from(await getJson(`${base}update?${query}`, source.token, 64 * 1024)).toString('utf8')) as UpdateDecision;
  if (!['up-to-date', 'delta', 'full'].includes(answer.result) || typeof answer.to !== 'string' || (answer.result !== 'up-to-date' && typeof answer.path !== 'string')) {
    throw new SnapcopyError('ERR_PROTOCOL', `node ${source.label} answered an update request with something else`);
  }
  return answer;
}

const newName = (fs: string) => `${fs}.pull-new`;
const oldName = (fs: string) => `${fs}.pull-old`;

/** Finishes or undoes a full-copy swap that a crash cut short (see the top of this file). */
async function recoverSwap(dir: DataDir, fs: string): Promise<void> {
  const names = await dir.volumeNames();
  const has = (name: string) => names.includes(name);
  if (has(newName(fs)) && !has(fs) && has(oldName(fs))) await dir.rename(newName(fs), fs); // cut between the renames
  else if (has(newName(fs))) await dir.destroy(newName(fs), { recursive: true }); // a replacement never finished
  if (has(oldName(fs)) && (await dir.volumeNames()).includes(fs)) await dir.destroy(oldName(fs), { recursive: true });
}

/** The image the local volume holds (null: no volume, or an empty one). */
async function heldImage(dir: DataDir, fs: string): Promise<string | null> {
  if (!(await dir.volumeNames()).includes(fs)) return null;
  // Opened (locked) now: another process pulling into it waits or is refused (--wait) until this pull ends.
  const volume = await dir.volume(fs);
  if (volume.base === null) {
    const last = volume.listCheckpoints().at(-1);
    throw new SnapcopyError('ERR_WRONG_BASE',
      `${fs} has been written since ${last ? `${fs}@${last.name}` : 'it was created'}; pull would lose those writes: `
      + (last ? `restore ${fs}@${last.name} first, or destroy ${fs}` : `destroy ${fs} first`));
  }
  return volume.base === EMPTY_IMAGE ? null : volume.base;
}

/** A checkpoint of the version the volume now holds, under the source's name when it is free. */
async function markVersion(volume: Volume, image: string, name: string): Promise<void> {
  const checkpoints = volume.listCheckpoints();
  if (checkpoints.at(-1)?.image === image) return;
  const free = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name) && !checkpoints.some((c) => c.name === name);
  await volume.createCheckpoint(free ? name : undefined);
}

/** Imports a stream as the decision says; returns the source's name of the version. */
async function importStream(dir: DataDir, fs: string, source: AsyncIterable<Uint8Array>, decision: UpdateDecision): Promise<string> {
  const { header, stream, cancel } = await peekHeader(source);
  const expected = decision.result === 'delta' ? decision.from : EMPTY_IMAGE;
  if (header.to.id !== decision.to || header.from.id !== expected) {
    await cancel();
    throw new SnapcopyError('ERR_CORRUPT', `the stream downloaded goes from ${header.from.id} to ${header.to.id}, not the ${decision.result} it was announced as`);
  }
  const exists = (await dir.volumeNames()).includes(fs);
  if (decision.result === 'delta') {
    const volume = await dir.volume(fs);
    await volume.importDiff(stream, { expect: { from: header.from.id, to: header.to.id } });
    await markVersion(volume, header.to.id, header.to.name);
  } else if (!exists) {
    await markVersion(await dir.createFromStream(fs, header, stream), header.to.id, header.to.name);
  } else {
    // A full copy over a volume whose version the source does not hold: built beside it, then swapped in.
    const fresh = await dir.createFromStream(checkName('volume', newName(fs)), header, stream);
    await markVersion(fresh, header.to.id, header.to.name);
    await dir.rename(fs, oldName(fs));
    await dir.rename(newName(fs), fs);
    await dir.destroy(oldName(fs), { recursive: true });
  }
  return header.to.name;
}

/** Imports the stream while it downloads; again from its first byte when the source now serves another stream. */
async function importDownload(dir: DataDir, fs: string, source: Download, decision: UpdateDecision): Promise<string> {
  for (;;) {
    try {
      return await importStream(dir, fs, source.stream(), decision);
    } catch (error) {
      // The stream refused (corrupt, not as announced) or the source gone: the import changed nothing.
      if (!source.restart || error !== source.cut) throw error;
    }
  }
}

/** Brings local volume `fs` of `dir` to a version of `source` (see the top of this file). */
export async function pull(dir: DataDir, fs: string, source: PullSource, options: PullOptions = {}): Promise<PullOutcome> {
  checkName('volume', fs);
  if (options.tmin !== undefined && (!Number.isFinite(options.tmin) || options.tmin < 0)) throw invalidArgument(`tmin must be a number of seconds, not ${options.tmin}`);
  const started = performance.now();
  const seconds = () => Math.round(performance.now() - started) / 1000;
  const label = sourceLabel(source);
  const record = await readPullRecord(dir.path, fs);
  if (options.tmin !== undefined && record?.source === label) {
    const since = (Date.now() - Date.parse(record.updated)) / 1000;
    if (since >= 0 && since < options.tmin) {
      return { result: 'skipped', volume: fs, from: record.version, to: record.version, bytes: 0, seconds: seconds(), next: Math.ceil(options.tmin - since) };
    }
  }
  await recoverSwap(dir, fs);
  const held = await heldImage(dir, fs);
  const decision = await decide(source, held, options.version);
  let name: string;
  let bytes = 0;
  if (decision.result === 'up-to-date') {
    name = record?.version === decision.to ? record.name : decision.to;
    // A pull cut short between its import and its checkpoint left the version without one.
    if (held !== null) await markVersion(await dir.volume(fs), decision.to, name);
  } else {
    const url = new URL(decision.path!, baseUrl(source)).href;
    const download = new Download(url, { token: source.token, retries: options.retries, onBytes: options.onBytes });
    try {
      name = await importDownload(dir, fs, download, decision);
      bytes = download.have;
    } finally {
      download.close();
    }
  }
  await writePullRecord(dir.path, { volume: fs, source: label, version: decision.to, name, updated: new Date().toISOString() });
  return { result: decision.result, volume: fs, from: held, to: decision.to, bytes, seconds: seconds() };
}
