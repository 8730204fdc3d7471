// The frames of a session that some destination below this node has not acknowledged:
// kept by sequence number so any next hop can be (re)sent from where it stands, and
// released in order once every destination has them. Its size is the session's window.

export class Retention {
  #frames: Uint8Array[] = [];
  #head = 0;
  /** Sequence number of #frames[#head]. */
  #first = 1;
  #bytes = 0;

  /** Lowest sequence number still held (first > last when empty). */
  get first(): number {
    return this.#first;
  }

  /** Highest sequence number added so far (0 before any). */
  get last(): number {
    return this.#first + this.#frames.length - this.#head - 1;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get count(): number {
    return this.#frames.length - this.#head;
  }

  /** Appends frame `seq`, which must be last + 1. */
  add(seq: number, raw: Uint8Array): void {
    if (seq !== this.last + 1) throw new RangeError(`retention expects frame ${this.last + 1}, not ${seq}`);
    this.#frames.push(raw);
    this.#bytes += raw.byteLength;
  }

  get(seq: number): Uint8Array | undefined {
    if (seq < this.#first || seq > this.last) return undefined;
    return this.#frames[this.#head + seq - this.#first];
  }

  /** Drops every frame up to and including `seq`, handing each to `released`; returns the bytes freed. */
  releaseThrough(seq: number, released?: (raw: Uint8Array) => void): number {
    let freed = 0;
    while (this.#first <= seq && this.#head < this.#frames.length) {
      const raw = this.#frames[this.#head]!;
      freed += raw.byteLength;
      released?.(raw);
      this.#frames[this.#head++] = EMPTY;
      this.#first++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#head = 0;
    }
    this.#bytes -= freed;
    return freed;
  }

  /** Starts an empty retention at `seq` (a receiver that joins a session late). */
  startAt(seq: number): void {
    if (this.count !== 0) throw new RangeError('retention is not empty');
    this.#first = seq;
  }
}

const EMPTY = new Uint8Array(0);
