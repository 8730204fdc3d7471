// The status application's pure parts: the metrics registry's text format (escaping,
// HELP and TYPE lines, counters read elsewhere), the charts' history ring and its
// throughput, and which log lines count as errors.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, test } from 'vitest';
import { Metrics } from '../../src/node/metrics.js';
import { History, type PrimaryView } from '../../src/status/history.js';
import { ErrorRing, isErrorLine } from '../../src/status/log-ring.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('status-units');
const prng = new Prng(SEED);

describe(`metrics registry text format (seed ${SEED})`, () => {
  test('HELP and TYPE lines before each family\'s samples; counters, then collected families', async () => {
    const m = new Metrics();
    m.counter('a_total', 'Things done.').inc({ kind: 'x' }, 3);
    m.gauge('b', 'A level.', () => [{ labels: {}, value: 1.5 }]);
    m.collectedCounter('c_total', 'Kept elsewhere.', async () => [{ labels: { group: 'g' }, value: 7 }]);
    m.counter('d_total', 'Nothing yet.');
    expect(await m.render()).toBe([
      '# HELP a_total Things done.', '# TYPE a_total counter', 'a_total{kind="x"} 3',
      '# HELP d_total Nothing yet.', '# TYPE d_total counter',
      '# HELP b A level.', '# TYPE b gauge', 'b 1.5',
      '# HELP c_total Kept elsewhere.', '# TYPE c_total counter', 'c_total{group="g"} 7',
      '',
    ].join('\n'));
  });

  test('the same counter name is the same counter (its first help stays)', () => {
    const m = new Metrics();
    m.counter('x_total', 'First.').inc();
    m.counter('x_total', 'Second.').inc({}, 2);
    expect(m.counter('x_total', '').get()).toBe(3);
  });

  test('label values with backslashes, quotes and newlines, and help with them, survive a real parser', async () => {
    const alphabet = ['\\', '"', '\n', 'a', 'é', ' ', '{', '}', ',', '=', '<', '&'];
    const values = Array.from({ length: 20 }, () => Array.from({ length: prng.int(1, 12) }, () => prng.pick(alphabet)).join(''));
    const m = new Metrics();
    const counter = m.counter('odd_total', 'Help with a \\ backslash\nand a newline.');
    const unique = [...new Set(values)];
    unique.forEach((value, i) => counter.inc({ value }, i + 1));
    m.gauge('special', 'NaN and infinities.', () => [
      { labels: { v: 'nan' }, value: NaN }, { labels: { v: 'inf' }, value: Infinity }, { labels: { v: '-inf' }, value: -Infinity },
    ]);
    const text = await m.render();
    expect(text).toContain('# HELP odd_total Help with a \\\\ backslash\\nand a newline.');
    const families = parsePrometheusTextFormat(text) as { name: string; metrics: { value: string; labels: Record<string, string> }[] }[];
    const odd = families.find((f) => f.name === 'odd_total')!;
    expect(odd.metrics.map((s) => [s.labels.value, Number(s.value)])).toEqual(unique.map((value, i) => [value, i + 1]));
    const special = families.find((f) => f.name === 'special')!;
    expect(special.metrics.map((s) => s.value)).toEqual(['NaN', '+Inf', '-Inf']);
  });
});

describe('history of lag and throughput per destination', () => {
  const primary = (played: number | null, lag: number | null, sets: { n: number; bytes: number }[]): PrimaryView => ({
    name: 'vol', destinations: [{ node: 'n2', lagSeconds: lag, currentDeltaSet: played }], sets,
  });

  test('throughput is the bytes of the sets played since the last sample over the time between', () => {
    const h = new History();
    const sets = [{ n: 0, bytes: 1000 }, { n: 1, bytes: 4000 }, { n: 2, bytes: 6000 }];
    h.sample([primary(0, 1, sets)], 10_000);
    h.sample([primary(2, 0.5, sets)], 20_000); // sets 1 and 2 in 10 s
    h.sample([primary(2, 10.5, sets)], 30_000); // nothing new
    expect(h.toJSON()).toEqual({ 'vol → n2': [[10, 1, 0], [20, 0.5, 1000], [30, 10.5, 0]] });
  });

  test('keeps the newest samples up to its bound and forgets destinations that left', () => {
    const h = new History(5);
    for (let i = 0; i < 12; i++) h.sample([primary(null, null, [])], i * 10_000);
    expect(h.toJSON()['vol → n2']!.map((s) => s[0])).toEqual([70, 80, 90, 100, 110]);
    h.sample([], 130_000);
    expect(h.toJSON()).toEqual({});
  });
});

describe('recent errors from the log', () => {
  test('lines that report something wrong are kept, summaries of nothing failing are not', () => {
    expect(isErrorLine('replication of vol: node n2 unreachable [ERR_UNREACHABLE]')).toBe(true);
    expect(isErrorLine('rcptest f (10 bytes) to group g: not sent: boom')).toBe(true);
    expect(isErrorLine('replication of vol: could not delete rep-3: busy')).toBe(true);
    expect(isErrorLine('rcptest f (10 bytes) to group g: 1 ok, 1 failed')).toBe(true);
    expect(isErrorLine('rcptest f (10 bytes) to group g: 2 ok, 0 failed')).toBe(false);
    expect(isErrorLine('SIGTERM, stopping')).toBe(false);
  });

  test('the ring keeps the last N, oldest first', () => {
    const ring = new ErrorRing(3);
    for (let i = 0; i < 5; i++) ring.add(`error ${i}`, i);
    ring.add('all fine', 9);
    expect(ring.list()).toEqual([{ at: 2, line: 'error 2' }, { at: 3, line: 'error 3' }, { at: 4, line: 'error 4' }]);
  });
});
