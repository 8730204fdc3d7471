// Reads ahead of their consumer: up to `depth` reads run on the runtime's I/O threads
// while the caller's thread checksums and writes out what came before, and results
// come back in the order of their jobs. With a ring of depth + 1 buffers, a result's
// buffer is reused only once the consumer has asked for the result after it, so a
// consumer may hold the bytes it was given until then (the `transient` contract).

export interface ReadAheadOptions {
  /** Reads in flight at most (at least 1). */
  depth: number;
  /** With a ring of reused buffers of this many bytes; without, each read makes its own buffer. */
  ringBytes?: number;
  /** The ring itself (depth + 1 buffers), when the caller has one. */
  ring?: Uint8Array[];
}

/** A read of one job into `into` (one of the ring's buffers, or undefined: make your own). */
export type ReadJob<J, R> = (job: J, into: Uint8Array | undefined) => Promise<R>;

/**
 * The results of `read` over `jobs`, in job order, with reads issued ahead. A failed
 * read is thrown when its turn comes; reads still in flight when the consumer stops
 * (or a read fails) are waited for before the generator ends, so no read outlives it.
 */
export async function* readAhead<J, R>(jobs: Iterable<J>, read: ReadJob<J, R>, options: ReadAheadOptions): AsyncGenerator<R> {
  const depth = Math.max(1, Math.floor(options.depth));
  const ring = options.ring ?? (options.ringBytes === undefined ? [] : Array.from({ length: depth + 1 }, () => new Uint8Array(options.ringBytes!)));
  if (options.ring && options.ring.length < depth + 1) throw new Error('readAhead: a ring needs depth + 1 buffers');
  const source = jobs[Symbol.iterator]();
  const inFlight: Array<Promise<R>> = [];
  let issued = 0;
  /** Starts the next job's read; false when there is none. */
  const issue = (): boolean => {
    const next = source.next();
    if (next.done) return false;
    const promise = read(next.value, ring.length > 0 ? ring[issued % ring.length] : undefined);
    // Its failure is thrown in turn; until then (or if never awaited) it is not unhandled.
    promise.catch(() => undefined);
    inFlight.push(promise);
    issued++;
    return true;
  };
  try {
    while (inFlight.length < depth && issue());
    while (inFlight.length > 0) {
      const result = await inFlight.shift()!;
      // The consumer asked for this result, so it is done with the one before, whose
      // buffer the next read takes: depth reads stay in flight while it works on this one.
      issue();
      yield result;
    }
  } finally {
    source.return?.();
    await Promise.allSettled(inFlight);
  }
}
