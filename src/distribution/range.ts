// HTTP byte ranges (RFC 9110 §14): one range per request, which is what a resuming
// download sends. Several ranges are answered with the whole stream (a server may).

export type RangeAnswer =
  | { kind: 'whole' }
  | { kind: 'part'; start: number; end: number } // end inclusive
  | { kind: 'unsatisfiable' };

/** What to send for a `Range` header against a stream of `size` bytes. */
export function rangeOf(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'whole' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header);
  if (!match) return header.includes(',') && /^\s*bytes\s*=/.test(header) ? { kind: 'whole' } : { kind: 'unsatisfiable' };
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') return { kind: 'unsatisfiable' };
  if (first === '') {
    // bytes=-n: the last n bytes
    const n = Number(last);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'part', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (!Number.isSafeInteger(start) || start >= size || (last !== '' && Number(last) < start)) return { kind: 'unsatisfiable' };
  return { kind: 'part', start, end };
}
