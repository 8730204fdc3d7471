// An import driven by pushing bytes (begin, write, commit, abort), for sources that
// hand over pieces in callbacks, like an RCP session's frames. Each piece is copied
// before write() resolves, so the caller may reuse its buffer at once; memory is
// bounded: write() waits while more than `maxQueuedBytes` wait to be consumed.

import { SnapcopyError } from '../errors.js';
import { copyBytes } from '../storage/bytes.js';

export interface PushImportOptions {
  /** Bytes that may wait for the importer before write() waits (default 8 MiB). */
  maxQueuedBytes?: number;
}

export class PushImport<R> {
  readonly #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #failed: unknown;
  #wakeConsumer: (() => void) | undefined;
  #wakeProducer: (() => void) | undefined;
  readonly #max: number;
  readonly #result: Promise<R>;

  /** Starts the import at once: `run` consumes the pushed bytes as an async iterable. */
  constructor(run: (source: AsyncIterable<Uint8Array>) => Promise<R>, options: PushImportOptions = {}) {
    this.#max = options.maxQueuedBytes ?? 8 << 20;
    this.#result = run(this.#source());
    // An import that fails early (a wrong base) is seen by the next write() or commit().
    this.#result.catch((error: unknown) => {
      this.#failed ??= error;
      this.#wakeProducer?.();
    });
  }

  /** Hands over a piece (copied); waits while too much is queued. Rejects once the import failed. */
  async write(piece: Uint8Array): Promise<void> {
    this.#check();
    if (this.#ended) throw new SnapcopyError('ERR_CLOSED', 'write after commit or abort');
    if (piece.length === 0) return;
    this.#queue.push(copyBytes(piece));
    this.#queued += piece.length;
    this.#wakeConsumer?.();
    while (this.#queued > this.#max && this.#failed === undefined) {
      await new Promise<void>((resolve) => {
        this.#wakeProducer = resolve;
      });
    }
    this.#check();
  }

  /** Ends the input and waits for the import's result. */
  async commit(): Promise<R> {
    this.#check();
    this.#ended = true;
    this.#wakeConsumer?.();
    return this.#result;
  }

  /** Ends the input with an error: the import fails and changes nothing. */
  async abort(reason = 'the import was aborted'): Promise<void> {
    this.#failed ??= new SnapcopyError('ERR_CLOSED', reason);
    this.#ended = true;
    this.#wakeConsumer?.();
    this.#wakeProducer?.();
    await this.#result.catch(() => undefined);
  }

  #check(): void {
    if (this.#failed !== undefined) throw this.#failed;
  }

  async* #source(): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.#failed !== undefined) throw this.#failed;
      const piece = this.#queue.shift();
      if (piece) {
        this.#queued -= piece.length;
        if (this.#queued <= this.#max) this.#wakeProducer?.();
        yield piece;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wakeConsumer = resolve;
      });
      this.#wakeConsumer = undefined;
    }
  }
}
