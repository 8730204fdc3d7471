// The node's last log lines that report something going wrong, for the status page's
// "recent errors". Log lines carry no level, so an error is recognised by its words: a
// stable error code, or "error", "failed", "cannot", "could not", "not sent" (a summary
// such as "2 ok, 0 failed" is not one).

export interface LoggedError {
  /** When it was logged (ms since the epoch). */
  at: number;
  line: string;
}

const ERROR_WORDS = /\bERR_[A-Z_]+\b|\berror\b|\bfail(?:ed|s|ure)?\b|\bcannot\b|\bcould not\b|\bnot sent\b/i;
const NOTHING_FAILED = /\b0 failed\b/;

export function isErrorLine(line: string): boolean {
  return ERROR_WORDS.test(line) && !NOTHING_FAILED.test(line);
}

/** The last `size` error lines, oldest first. */
export class ErrorRing {
  readonly #size: number;
  #lines: LoggedError[] = [];

  constructor(size = 50) {
    this.#size = size;
  }

  /** Keeps `line` if it reports an error; returns whether it did. */
  add(line: string, at = Date.now()): boolean {
    if (!isErrorLine(line)) return false;
    this.#lines.push({ at, line });
    if (this.#lines.length > this.#size) this.#lines = this.#lines.slice(-this.#size);
    return true;
  }

  list(): LoggedError[] {
    return [...this.#lines];
  }
}
