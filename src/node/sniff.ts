// The L5 filter of FIG. 19: one TCP port for HTTP and RCP, told apart by the first line
// of each connection. "RCP/1.0" opens an RCP connection; a request line ending in
// " HTTP/1.0" or " HTTP/1.1" is HTTP; anything else, or no line end within the limit,
// is closed.

export const SNIFF_LIMIT = 8192;

export type Protocol = 'rcp' | 'http' | 'bad' | 'more';

const REQUEST_LINE = /^[A-Z]{1,16} \S{1,8000} HTTP\/1\.[01]$/;

/** Classifies the bytes a connection has sent so far. */
export function sniff(bytes: Uint8Array): { protocol: Protocol; lineBytes: number } {
  const end = bytes.indexOf(0x0a);
  if (end < 0) {
    if (bytes.byteLength >= SNIFF_LIMIT) return { protocol: 'bad', lineBytes: 0 };
    const prefix = latin1(bytes.subarray(0, 7));
    const couldBeRcp = 'RCP/1.0'.startsWith(prefix) || prefix.startsWith('RCP/1.0');
    const couldBeHttp = /^[A-Z]+( |$)/.test(prefix);
    return { protocol: couldBeRcp || couldBeHttp ? 'more' : 'bad', lineBytes: 0 };
  }
  const line = latin1(bytes.subarray(0, end)).replace(/\r$/, '');
  if (line === 'RCP/1.0') return { protocol: 'rcp', lineBytes: end + 1 };
  if (REQUEST_LINE.test(line)) return { protocol: 'http', lineBytes: end + 1 };
  return { protocol: 'bad', lineBytes: 0 };
}

function latin1(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}
