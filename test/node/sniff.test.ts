// The L5 filter's classifier (src/node/sniff.ts): one port for HTTP and RCP, told apart
// by the first line of a connection. "RCP/1.0" is RCP; a request line ending in
// " HTTP/1.0" or " HTTP/1.1" is HTTP; a line that can still become one of these is
// 'more' (keep reading); anything else, or no line end within SNIFF_LIMIT bytes, is 'bad'.
// Pure: runs in both projects.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { SNIFF_LIMIT, sniff } from '../../src/node/sniff.js';

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const classify = (text: string) => sniff(bytes(text));

const RCP_LINES = ['RCP/1.0\r\n', 'RCP/1.0\n'];

const HTTP_LINES = [
  'GET / HTTP/1.1\r\n',
  'GET /v1/status HTTP/1.1\r\n',
  'GET /v1/status HTTP/1.0\r\n',
  'GET /v1/status HTTP/1.0\n',
  'POST /v1/routes HTTP/1.1\r\n',
  'POST /v1/rcptest HTTP/1.0\r\n',
  'DELETE /v1/routes?group=g HTTP/1.1\r\n',
  'OPTIONS * HTTP/1.1\r\n',
  'PROPFIND /a/b HTTP/1.1\r\n',
  'CONNECT 127.0.0.1:7700 HTTP/1.1\r\n',
  `GET /${'a'.repeat(7999)} HTTP/1.1\r\n`,
];

describe('whole first lines', () => {
  test.each(RCP_LINES)('the RCP preamble %j is rcp, the line and its end counted', (line) => {
    expect(classify(line)).toEqual({ protocol: 'rcp', lineBytes: line.length });
  });

  test('bytes after the RCP preamble (the first frame) are not part of the line', () => {
    const frame = '\x00\x00\x00\x02\x01\x00\x00\x00\xde\xad\xbe\xef{}';
    expect(classify(`RCP/1.0\r\n${frame}`)).toEqual({ protocol: 'rcp', lineBytes: 9 });
    expect(classify('RCP/1.0\r\nGET / HTTP/1.1\r\n')).toEqual({ protocol: 'rcp', lineBytes: 9 });
  });

  test.each(HTTP_LINES)('the request line %j is http', (line) => {
    expect(classify(line)).toEqual({ protocol: 'http', lineBytes: line.length });
  });

  test('headers and a body after the request line do not matter', () => {
    const request = 'POST /v1/routes HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}';
    expect(classify(request)).toEqual({ protocol: 'http', lineBytes: 'POST /v1/routes HTTP/1.1\r\n'.length });
  });

  test.each([
    ['another RCP version', 'RCP/2.0\r\n'],
    ['RCP/1.0 with more on the line', 'RCP/1.0 please\r\n'],
    ['RCP/1.0 with a second CR', 'RCP/1.0\r\r\n'],
    ['lower-case rcp', 'rcp/1.0\r\n'],
    ['an empty line', '\r\n'],
    ['a bare LF', '\n'],
    ['HTTP/2 prior knowledge', 'PRI * HTTP/2.0\r\n'],
    ['HTTP/0.9', 'GET /\r\n'],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\n'],
    ['a lower-case method', 'get / HTTP/1.1\r\n'],
    ['a method over 16 letters', `${'A'.repeat(17)} / HTTP/1.1\r\n`],
    ['no target', 'GET  HTTP/1.1\r\n'],
    ['two spaces', 'GET  / HTTP/1.1\r\n'],
    ['a tab', 'GET\t/ HTTP/1.1\r\n'],
    ['a target over 8000 bytes', `GET /${'a'.repeat(8000)} HTTP/1.1\r\n`],
    ['SSH', 'SSH-2.0-OpenSSH_9.6\r\n'],
    ['SMTP', 'EHLO example.com\r\n'],
    ['a TLS-ish line', '\x16\x03\x01\x02\x00\x01\x00\n'],
    ['JSON', '{"hello": "world"}\n'],
  ])('%s is bad', (_what, line) => {
    expect(classify(line)).toEqual({ protocol: 'bad', lineBytes: 0 });
  });
});

describe('partial first lines', () => {
  test.each([...RCP_LINES, ...HTTP_LINES])('every proper prefix of %j is more', (line) => {
    // Up to the line end: without its LF no line is complete yet.
    const end = line.indexOf('\n');
    for (let n = 0; n <= end; n++) {
      const prefix = line.slice(0, n);
      expect(classify(prefix), `prefix of ${n} bytes: ${JSON.stringify(prefix)}`).toEqual({ protocol: 'more', lineBytes: 0 });
    }
    expect(classify(line).protocol).not.toBe('more');
  });

  test('a valid prefix stays more up to SNIFF_LIMIT - 1 bytes without a line end, and is bad at the limit', () => {
    expect(SNIFF_LIMIT).toBe(8192);
    for (const start of ['GET /', 'POST /v1/', 'RCP/1.0', 'DELETE ']) {
      const pad = (n: number) => start + 'a'.repeat(n - start.length);
      expect(classify(pad(SNIFF_LIMIT - 1)).protocol, start).toBe('more');
      expect(classify(pad(SNIFF_LIMIT)), start).toEqual({ protocol: 'bad', lineBytes: 0 });
      expect(classify(pad(SNIFF_LIMIT + 1)).protocol, start).toBe('bad');
      expect(classify(pad(4 * SNIFF_LIMIT)).protocol, start).toBe('bad');
    }
  });

  test('a line end past the limit does not make a long line acceptable', () => {
    expect(classify(`GET /${'a'.repeat(SNIFF_LIMIT)} HTTP/1.1\r\n`).protocol).toBe('bad');
    expect(classify(`RCP/1.0${' '.repeat(SNIFF_LIMIT)}\r\n`).protocol).toBe('bad');
  });

  test.each([
    ['a NUL', '\x00'],
    ['binary', '\xff\xfe\x00\x01'],
    ['a lower-case letter', 'g'],
    ['a digit', '1'],
    ['a slash', '/'],
    ['a TLS ClientHello', '\x16\x03\x01\x00\xa5\x01\x00\x00'],
    ['RCP/2', 'RCP/2'],
    ['RC then a digit', 'RC1'],
    ['SSH-', 'SSH-'],
    ['a method then a tab', 'GET\t'],
    ['letters then a digit', 'GET1'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ])('%s is bad at once, before any line end', (_what, text) => {
    expect(classify(text)).toEqual({ protocol: 'bad', lineBytes: 0 });
  });

  test('nothing yet is more', () => {
    expect(sniff(new Uint8Array(0))).toEqual({ protocol: 'more', lineBytes: 0 });
  });
});

describe('binary junk', () => {
  test('never classifies as rcp or http unless it is a valid first line, and more only below the limit with no line end', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3 * SNIFF_LIMIT }), (junk) => {
        const { protocol, lineBytes } = sniff(junk);
        const end = junk.indexOf(0x0a);
        const line = Buffer.from(end < 0 ? junk : junk.subarray(0, end)).toString('latin1').replace(/\r$/, '');
        if (protocol === 'rcp') return line === 'RCP/1.0' && lineBytes === end + 1;
        if (protocol === 'http') return / HTTP\/1\.[01]$/.test(line) && lineBytes === end + 1;
        if (protocol === 'more') return end < 0 && junk.byteLength < SNIFF_LIMIT && lineBytes === 0;
        return lineBytes === 0;
      }),
      { numRuns: 500 },
    );
  });

  test('junk whose first byte is not an upper-case letter is bad at once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }).filter((b) => (b < 0x41 || b > 0x5a) && b !== 0x20),
        fc.uint8Array({ maxLength: 64 }),
        (first, rest) => sniff(Uint8Array.of(first, ...rest)).protocol === 'bad',
      ),
      { numRuns: 500 },
    );
  });

  test('junk after a plausible prefix is judged at its line end', () => {
    expect(classify('GET /\x00\x01\x02').protocol).toBe('more');
    expect(classify('GET /\x00\x01\x02\n').protocol).toBe('bad');
    expect(classify('RCP/1.0\x00\x01').protocol).toBe('more');
    expect(classify('RCP/1.0\x00\x01\n').protocol).toBe('bad');
  });

  test('the classifier reads only what it is given (a view into a larger buffer)', () => {
    const backing = bytes('xxxxGET /v1/status HTTP/1.1\r\nyyyy');
    const view = backing.subarray(4, 4 + 'GET /v1/status HTTP/1.1\r\n'.length);
    expect(sniff(view)).toEqual({ protocol: 'http', lineBytes: view.byteLength });
    expect(sniff(backing.subarray(4, 10)).protocol).toBe('more');
  });
});
