// The status page in a real browser: Debian's Chromium (headless, driven by puppeteer-core;
// nothing downloads a browser) against two real `snapcopy serve` processes. It logs in
// through the form, sees the volumes, sees a new volume, a checkpoint, replication (with
// its charts) and a pull appear live without a reload, checks that a log line full of
// HTML shows as text, checks the phone-sized layout has no horizontal scroll, and saves
// screenshots to test/status/screenshots/ (git-ignored) for a person to look at.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { httpTokenOf } from '../../src/rcp/auth.js';
import { backend } from '../helpers/backend.js';
import { ensureBuilt } from '../helpers/built.js';
import { freePorts, NodeProcess, ROOT, removeDir, runCli, tempDir, writePeers } from '../helpers/net.js';
import { Prng, testSeed } from '../helpers/prng.js';

const SEED = testSeed('status-browser');
const prng = new Prng(SEED);
const SECRET = 'status-browser-secret-0123456789';
const SHOTS = join(ROOT, 'test', 'status', 'screenshots');
const KiB = 1024;
/** A file name the node logs as it is (rcptest refuses only slashes): HTML that must stay text. */
const HOSTILE = '<img src=x onerror="window.__xss=1">&amp;"q\'';
const WAIT_MS = 30_000;

function findChromium(): string | undefined {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      const path = execFileSync('which', [name], { encoding: 'utf8' }).trim();
      if (path && existsSync(path)) return path;
    } catch {
      // not on PATH
    }
  }
  return undefined;
}

const chromium = backend === 'wasm' ? findChromium() : undefined;
if (backend === 'wasm' && !chromium) console.log('status page browser test skipped: no Chromium found (apt-get install chromium; .ci/run installs it)');

describe.runIf(chromium !== undefined)(`status page in Chromium (seed ${SEED})`, () => {
  let root = '';
  let peers = '';
  let token = '';
  let n1: NodeProcess;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await ensureBuilt();
    root = await tempDir('snapcopy-status-browser-');
    const [p1, p2] = (await freePorts(2)) as [number, number];
    peers = await writePeers(root, SECRET, { n1: `127.0.0.1:${p1}`, n2: `127.0.0.1:${p2}` });
    token = await httpTokenOf(SECRET);
    [n1] = await Promise.all([
      NodeProcess.start({ name: 'n1', port: p1, data: join(root, 'n1'), peers }),
      NodeProcess.start({ name: 'n2', port: p2, data: join(root, 'n2'), peers }),
    ]);
    await api('POST', '/v1/volumes', JSON.stringify({ name: 'alpha', size: 4 * 1024 * KiB, blockSize: 4096 }));
    browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    mkdirSync(SHOTS, { recursive: true });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await NodeProcess.stopAll();
    if (root) await removeDir(root);
  });

  async function api(method: string, path: string, body?: string | Uint8Array): Promise<unknown> {
    const response = await fetch(`http://${n1.address}${path}`, { method, headers: { authorization: `Bearer ${token}` }, body });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  /** /metrics has the destination's lag and a last success of a moment ago, once it played a set. */
  async function expectReplicationMetrics(): Promise<void> {
    const response = await fetch(`http://${n1.address}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    const families = parsePrometheusTextFormat(await response.text()) as { name: string; metrics: { value: string; labels: Record<string, string> }[] }[];
    const sample = (name: string) => families.find((f) => f.name === name)?.metrics.find((m) => m.labels.volume === 'alpha' && m.labels.destination === 'n2');
    const lag = Number(sample('snapcopy_replication_lag_seconds')?.value);
    const success = Number(sample('snapcopy_replication_last_success_timestamp_seconds')?.value);
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(120);
    expect(Math.abs(Date.now() / 1000 - success)).toBeLessThan(120);
  }

  const text = (selector: string) => page.$eval(selector, (node) => node.textContent ?? '');
  const waitForText = (selector: string, wanted: string) =>
    page.waitForFunction((s, w) => (document.querySelector(s)?.textContent ?? '').includes(w), { timeout: WAIT_MS }, selector, wanted);

  test('log in, see the node live, escaped; desktop and phone screenshots', async () => {
    // Without the cookie: the login form. A wrong token says so and stays there.
    const first = await page.goto(`http://${n1.address}/`);
    expect(first!.status()).toBe(401);
    await page.type('#token', 'not-the-token');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(await text('.error')).toContain('not valid');
    expect(await page.$('#volumes')).toBeNull();

    await page.type('#token', token);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(new URL(page.url()).pathname).toBe('/');
    await waitForText('#volumes', 'alpha');
    expect(await text('#node-name')).toBe('snapcopy node n1');
    expect(await page.evaluate(() => document.documentElement.dataset.transport)).toBe('sse');
    // The cookie is out of the script's reach.
    expect(await page.evaluate(() => document.cookie)).not.toContain('snapcopy_token');

    // From here on nothing reloads the page: a marker set now must survive every change.
    await page.evaluate(() => ((window as unknown as { __marker: number }).__marker = 42));

    await api('POST', '/v1/volumes', JSON.stringify({ name: 'bravo.2', size: 1024 * KiB }));
    await waitForText('#volumes', 'bravo.2');

    const data = prng.fill(new Uint8Array(prng.int(8, 64) * 4096));
    await api('PUT', '/v1/volumes/alpha/data?offset=0', data);
    await api('POST', '/v1/volumes/alpha/checkpoints', JSON.stringify({ name: 'monday' }));
    await waitForText('#volumes', 'monday');

    // Replication: the table row and, after the first 10 s sample, a chart for the destination.
    const started = await runCli(['--peers', peers, '--node', 'n1', 'fs_replicate', '-start', 'alpha', 'alpha-copy:cel=n2', '-option', 'to=1,hwm=16']);
    expect(started.code, started.stderr).toBe(0);
    await waitForText('#replication', 'alpha-copy:cel=n2');
    await api('PUT', `/v1/volumes/alpha/data?offset=${1024 * KiB}`, prng.fill(new Uint8Array(256 * KiB)));
    await page.waitForSelector('#replication .chart canvas', { timeout: WAIT_MS });
    expect(await text('#replication .chart h3')).toBe('alpha → n2');
    await expectReplicationMetrics();

    // A pull from the node: the distribution counters move.
    const local = join(root, 'client');
    const pulled = await runCli(['--data', local, '--peers', peers, 'pull', 'copy', 'n1:alpha', '--json']);
    expect(pulled.code, pulled.stderr).toBe(0);
    const result = (JSON.parse(pulled.stdout) as { result: string }).result;
    await waitForText('#distribution', result);
    expect(await text('#distribution tbody')).toMatch(new RegExp(`${result}\\s*1`));

    // A failing rcptest is logged with its file name as given: the page shows it as text.
    const hostile = await fetch(`http://${n1.address}/v1/rcptest?group=nowhere&name=${encodeURIComponent(HOSTILE)}&size=1`, {
      method: 'POST', headers: { authorization: `Bearer ${token}` }, body: new Uint8Array(1),
    });
    expect(hostile.ok).toBe(false);
    await waitForText('#errors', HOSTILE);
    expect(await page.$$('#errors img')).toHaveLength(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.evaluate(() => (window as unknown as { __marker?: number }).__marker)).toBe(42);

    // Wait for a second sample so the chart has a line, then the desktop screenshot.
    await page.waitForFunction(() => {
      const time = Number(document.documentElement.dataset.snapshotTime);
      return time > 0 && document.querySelectorAll('#replication .chart').length > 0;
    }, { timeout: WAIT_MS });
    // More writes meanwhile, so the throughput line moves too.
    for (let i = 0; i < 4; i++) {
      await api('PUT', `/v1/volumes/alpha/data?offset=${(2048 + i * 256) * KiB}`, prng.fill(new Uint8Array(256 * KiB)));
      await new Promise((resolve) => setTimeout(resolve, 3_000));
    }
    await page.screenshot({ path: join(SHOTS, 'status-desktop.png'), fullPage: true });

    // A phone: no horizontal scroll, the same content.
    await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await page.reload();
    await waitForText('#volumes', 'bravo.2');
    await page.waitForSelector('#replication .chart canvas', { timeout: WAIT_MS });
    const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    expect(widths.scroll, `page ${widths.scroll} px wide in a ${widths.client} px viewport`).toBeLessThanOrEqual(widths.client);
    await page.screenshot({ path: join(SHOTS, 'status-phone.png'), fullPage: true });
    expect(existsSync(join(SHOTS, 'status-desktop.png')) && existsSync(join(SHOTS, 'status-phone.png'))).toBe(true);
  }, 180_000);

  test('without EventSource the page polls, and still follows changes', async () => {
    const polling = await browser.newPage();
    try {
      await polling.setCookie({ name: 'snapcopy_token', value: token, url: `http://${n1.address}/`, httpOnly: true, sameSite: 'Strict' });
      await polling.evaluateOnNewDocument(() => {
        delete (window as unknown as { EventSource?: unknown }).EventSource;
      });
      await polling.goto(`http://${n1.address}/`);
      await polling.waitForFunction(() => (document.querySelector('#volumes')?.textContent ?? '').includes('alpha'), { timeout: WAIT_MS });
      expect(await polling.evaluate(() => document.documentElement.dataset.transport)).toBe('polling');
      await api('POST', '/v1/volumes', JSON.stringify({ name: 'charlie_3', size: 1024 * KiB }));
      await polling.waitForFunction(() => (document.querySelector('#volumes')?.textContent ?? '').includes('charlie_3'), { timeout: WAIT_MS });
    } finally {
      await polling.close();
    }
  }, 60_000);
});
