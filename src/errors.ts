/**
 * Errors that snapcopy throws carry a stable `code` to match on; the message is
 * for people and may change.
 */
export type SnapcopyErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_KERNELS_UNAVAILABLE'
  | 'ERR_ARENA_FULL'
  | 'ERR_FREED'
  | 'ERR_LOCKED'
  | 'ERR_NOT_FOUND'
  | 'ERR_EXISTS'
  | 'ERR_CORRUPT'
  | 'ERR_WRONG_BASE'
  | 'ERR_NOT_YOUNGER'
  | 'ERR_NO_SPACE'
  | 'ERR_CLOSED'
  | 'ERR_IO'
  // an error snapcopy did not expect (a bug): the command line reports it with this code
  | 'ERR_INTERNAL'
  // the command line and everyday use
  | 'ERR_USAGE'
  | 'ERR_AMBIGUOUS'
  | 'ERR_HAS_CHECKPOINTS'
  | 'ERR_IN_USE'
  | 'ERR_TERMINAL'
  | 'ERR_ADDRESS_IN_USE'
  // replication and recovery
  | 'ERR_READ_ONLY'
  | 'ERR_RAW'
  // a replica that was failed over refuses its old primary's sets (the primary is fenced)
  | 'ERR_FAILED_OVER'
  // nodes and RCP
  | 'ERR_PROTOCOL'
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_CHECKSUM'
  | 'ERR_VERSION'
  | 'ERR_AUTH'
  // a valid credential that may not do this (a read-only distribution token)
  | 'ERR_FORBIDDEN'
  | 'ERR_UNKNOWN_GROUP'
  | 'ERR_UNKNOWN_SESSION'
  | 'ERR_TIMEOUT'
  | 'ERR_UNREACHABLE'
  | 'ERR_SUPERSEDED';

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

export function notFound(message: string): SnapcopyError {
  return new SnapcopyError('ERR_NOT_FOUND', message);
}

export function corrupt(message: string): SnapcopyError {
  return new SnapcopyError('ERR_CORRUPT', message);
}
