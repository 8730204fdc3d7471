// The README's examples are run as written: each ```js block as a module importing the
// built library, the ```sh block as a shell session with `snapcopy` on the PATH.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { backend } from './helpers/backend.js';

const root = resolve(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = (lang: string) => [...readme.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
const work = mkdtempSync(join(tmpdir(), 'snapcopy-readme-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('README examples', () => {
  test('has the examples this test runs', () => {
    expect(blocks('js').length).toBeGreaterThanOrEqual(2);
    expect(blocks('sh').length).toBe(1);
    expect(blocks('bash').length).toBeGreaterThanOrEqual(4);
  });

  blocks('js').forEach((code, i) => {
    test(`library example ${i + 1} runs and its assertions hold`, () => {
      const dir = mkdtempSync(join(work, 'js-'));
      const file = join(dir, 'example.mjs');
      const strictAssert = "console.assert = (ok, ...m) => { if (!ok) { console.error('assertion failed', ...m); process.exit(1); } };\n";
      const source = code
        .replaceAll("from 'snapcopy'", `from ${JSON.stringify(join(root, 'dist/index.js'))}`)
        .replaceAll("kernels: 'auto'", `kernels: '${backend}'`)
        .replace("DataDir.open('./example-data')", `DataDir.open('./example-data', { kernels: '${backend}' })`);
      writeFileSync(file, strictAssert + source);
      execFileSync(process.execPath, [file], { cwd: dir, stdio: 'pipe' });
    });
  });

  test('command-line session runs to the end', () => {
    const out = runShell(blocks('sh')[0]!, { SNAPCOPY_KERNELS: backend });
    expect(out).toContain('monday');
    expect(out).toMatch(/"dataBlocks":\d+/);
  });

  test.runIf(backend === 'wasm')('three-node session runs to the end', () => {
    const out = runShell(blocks('bash')[0]!, {});
    expect(out).toMatch(/^n2\tok\t5000000 bytes$/m);
    expect(out).toMatch(/^n3\tok\t5000000 bytes$/m);
    expect(out).toContain('group=g1 nexthop=n3');
  }, 90_000);
});

/** Runs a README shell block in a fresh directory, with `snapcopy` on the PATH; its standard output. */
describe('README replication walkthrough', () => {
  test.runIf(backend === 'wasm')('two nodes: start, write, refresh, the replica equals the primary', () => {
    const out = runShell(blocks('bash')[1]!, {});
    expect(out).toContain('sfs equals pfs');
    expect(out).toContain('copy equals pfs@wednesday');
    expect(out).toMatch(/^0 blocks differ between pfs and sfs:cel=n2$/m);
    expect(out).toContain('type = playback');
    expect(out).toContain('the replica is read-only');
    expect(out).toMatch(/^stopped replicating pfs to n2$/m);
  }, 90_000);
});

describe('README serving versions walkthrough', () => {
  test.runIf(backend === 'wasm')('a node, a read-only token, pull full, delta, up to date', () => {
    const out = runShell(blocks('bash').find((b) => b.startsWith('# Serving versions'))!, {});
    expect(out).toMatch(/^app: full copy of \w+ from 127\.0\.0\.1:7131:app, \d+ bytes/m);
    expect(out).toMatch(/^app: delta \w+ -> \w+ from 127\.0\.0\.1:7131:app, \d+ bytes/m);
    expect(out).toMatch(/^\{"result":"up-to-date","from":"[0-9a-f-]{36}","to":"[0-9a-f-]{36}","bytes":0,/m);
    expect(out).toMatch(/^app: not asking 127\.0\.0\.1:7131:app yet/m);
    expect(out).toContain('app equals app@v2');
    expect(out).toMatch(/^app@v1\t.*\napp@v2\t/m);
    expect(out).toMatch(/^[0-9a-f]{8}\tapp\t/m);
  }, 90_000);
});

describe('README publishing versions walkthrough', () => {
  test.runIf(backend === 'wasm')('publish, serve with a plain web server, pull by URL: full, delta, up to date', () => {
    const out = runShell(blocks('bash').find((b) => b.startsWith('# Publishing versions'))!, {});
    expect(out).toMatch(/^\{"result":"full","from":null,"to":"[0-9a-f-]{36}"/m);
    expect(out).toMatch(/^site\/delta\/[0-9a-f-]{36}-[0-9a-f-]{36}\.snap$/m);
    expect(out).toMatch(/^site\/full\/[0-9a-f-]{36}\.snap$/m);
    expect(out).toMatch(/nothing changed$/m);
    expect(out).toMatch(/^\{"result":"delta","from":"[0-9a-f-]{36}"/m);
    expect(out).toMatch(/^\{"result":"up-to-date"/m);
    expect(out).toContain('the client holds vol@tuesday');
  }, 90_000);
});

describe('README disaster recovery walkthrough', () => {
  test.runIf(backend === 'wasm')('replicate, kill the primary, failover, resync, failback: each side follows the other', () => {
    const out = runShell(blocks('bash')[2]!, {});
    expect(out).toContain('split brain seen');
    expect(out).toContain('pfs follows sfs');
    expect(out).toContain('the diverged writes are kept');
    expect(out).toContain('sfs follows pfs');
    expect(out).toMatch(/^0 blocks differ between pfs and sfs:cel=n2$/m);
  }, 120_000);
});

function runShell(script: string, env: Record<string, string>): string {
  const dir = mkdtempSync(join(work, 'sh-'));
  const shim = join(dir, 'bin');
  execFileSync('mkdir', ['-p', shim]);
  writeFileSync(join(shim, 'snapcopy'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(root, 'bin/snapcopy.mjs'))} "$@"\n`);
  chmodSync(join(shim, 'snapcopy'), 0o755);
  // Background nodes are stopped however the script ends (a failure must not leave them running).
  const guarded = `trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n${script}`;
  // --norc: bash reads bash.bashrc even for -c when its standard input is a socket and SHLVL is low.
  return execFileSync('bash', ['--norc', '--noprofile', '-euo', 'pipefail', '-c', guarded], {
    cwd: dir,
    env: { ...process.env, PATH: `${shim}:${process.env.PATH}`, CI: '1', ...env },
    stdio: 'pipe',
    timeout: 60_000,
  }).toString();
}
