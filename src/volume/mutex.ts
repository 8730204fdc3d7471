/** Runs async operations one at a time, in call order. */
export class Mutex {
  #last: Promise<unknown> = Promise.resolve();

  run<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#last.then(operation);
    this.#last = result.catch(() => undefined);
    return result;
  }

  /** Holds the lock until the returned release is called (for long iterations). */
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const previous = this.#last;
    this.#last = previous.then(() => held);
    await previous;
    return release;
  }
}
