// Reading a delta stream's header before deciding what to do with the stream (create
// the target, roll it back, or say it is already there), without losing a byte.

import { corrupt } from '../errors.js';
import { copyBytes } from '../storage/bytes.js';
import { type DeltaHeader, StreamReader } from './delta-stream.js';

export interface PeekedStream {
  header: DeltaHeader;
  /** The whole stream again, header included. */
  stream: AsyncIterable<Uint8Array>;
  /** Stops reading the source (when the stream is not needed after all). */
  cancel(): Promise<void>;
}

/**
 * Reads `source` up to the end of the header. The pieces read are copied (a source
 * may reuse its buffers) and given back first by `stream`.
 */
export async function peekHeader(source: AsyncIterable<Uint8Array>): Promise<PeekedStream> {
  const iterator = source[Symbol.asyncIterator]();
  const reader = new StreamReader();
  const seen: Uint8Array[] = [];
  while (reader.header === undefined) {
    const next = await iterator.next();
    if (next.done) {
      reader.end(); // throws: truncated before the header ended
      throw corrupt('delta stream: truncated (no header)');
    }
    const copy = copyBytes(next.value);
    seen.push(copy);
    reader.push(copy);
  }
  const stream = (async function* () {
    yield* seen;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  })();
  return {
    header: reader.header,
    stream,
    cancel: async () => void (await iterator.return?.()),
  };
}
