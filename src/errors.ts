/**
 * Errors that snapcopy throws carry a stable `code` to match on; the message is
 * for people and may change.
 */
export type SnapcopyErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_KERNELS_UNAVAILABLE'
  | 'ERR_ARENA_FULL'
  | 'ERR_FREED';

export class SnapcopyError extends Error {
  readonly code: SnapcopyErrorCode;

  constructor(code: SnapcopyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SnapcopyError';
    this.code = code;
  }
}

export function invalidArgument(message: string): SnapcopyError {
  return new SnapcopyError('ERR_INVALID_ARGUMENT', message);
}

export function outOfRange(message: string): SnapcopyError {
  return new SnapcopyError('ERR_OUT_OF_RANGE', message);
}
