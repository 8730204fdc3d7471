// Failpoints (src/failover/failpoints.ts): the environment read at load names the point
// and its hit; that hit, and no other, kills the process with SIGKILL; every hit goes to
// the log when one is named; a name that is no failpoint is said once and ignored. The
// kill itself is caught here (process.kill stubbed); test/failover/crash.test.ts lets real
// nodes die by it. SNAPCOPY_FAILPOINT_FILE (the spec read from a file at each hit, so a
// running process can be armed) is checked on real child processes of the built module,
// which really die.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { ROOT, ensureBuilt } from '../helpers/built.js';

type Module = typeof import('../../src/failover/failpoints.js');

/** The module loaded afresh with this environment; process.kill and stderr caught. */
async function load(env: Record<string, string | undefined>) {
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
  vi.resetModules();
  const kill = vi.spyOn(process, 'kill').mockImplementation(() => true);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const module: Module = await import('../../src/failover/failpoints.js');
  return { ...module, kill, stderr };
}

describe('failpoints', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  test('names are unique, and every runner step and handler point is listed', async () => {
    const { FAILPOINTS } = await load({ SNAPCOPY_FAILPOINT: undefined, SNAPCOPY_FAILPOINTS_LOG: undefined });
    expect(new Set(FAILPOINTS).size).toBe(FAILPOINTS.length);
    expect(FAILPOINTS).toContain('failover.catch-up.saved');
    expect(FAILPOINTS).toContain('resync.reverse.performed');
    expect(FAILPOINTS).toContain('failback.done.saved');
    expect(FAILPOINTS).toContain('take-over.recorded');
    expect(FAILPOINTS).not.toContain('failover.failed.saved');
  });

  test('unset: nothing is killed or written', async () => {
    const { failpoint, kill, stderr } = await load({ SNAPCOPY_FAILPOINT: undefined, SNAPCOPY_FAILPOINTS_LOG: undefined });
    for (let i = 0; i < 3; i++) failpoint('demote.start');
    expect(kill).not.toHaveBeenCalled();
    expect(stderr).not.toHaveBeenCalled();
  });

  test('<name>#<n> kills at the n-th hit of that name only; every hit is logged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'snapcopy-failpoints-'));
    try {
      const log = join(dir, 'hits.log');
      const { failpoint, kill } = await load({ SNAPCOPY_FAILPOINT: 'refresh.end#2', SNAPCOPY_FAILPOINTS_LOG: log });
      failpoint('refresh.start');
      failpoint('refresh.end');
      expect(kill).not.toHaveBeenCalled();
      failpoint('refresh.start');
      failpoint('refresh.end');
      expect(kill).toHaveBeenCalledTimes(1);
      expect(kill).toHaveBeenCalledWith(process.pid, 'SIGKILL');
      failpoint('refresh.end');
      expect(kill).toHaveBeenCalledTimes(1);
      expect((await readFile(log, 'utf8')).split('\n')).toEqual(['refresh.start', 'refresh.end', 'refresh.start', 'refresh.end', 'refresh.end', '']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a bare name kills at its first hit', async () => {
    const { failpoint, kill } = await load({ SNAPCOPY_FAILPOINT: 'undo.restored', SNAPCOPY_FAILPOINTS_LOG: undefined });
    failpoint('undo.start');
    expect(kill).not.toHaveBeenCalled();
    failpoint('undo.restored');
    expect(kill).toHaveBeenCalledWith(process.pid, 'SIGKILL');
  });

  test.each(['undo.restord', 'undo.restored#0', 'undo.restored#x', '#2'])('%s is no failpoint: one line with its code, and nothing is killed', async (spec) => {
    const { failpoint, kill, stderr } = await load({ SNAPCOPY_FAILPOINT: spec, SNAPCOPY_FAILPOINTS_LOG: undefined });
    expect(stderr).toHaveBeenCalledTimes(1);
    expect(String(stderr.mock.calls[0]![0])).toMatch(/^snapcopy: SNAPCOPY_FAILPOINT=.* names no failpoint .*\[ERR_INVALID_ARGUMENT\]\n$/);
    failpoint('undo.restored');
    expect(kill).not.toHaveBeenCalled();
  });
});

describe('failpoints armed through SNAPCOPY_FAILPOINT_FILE, in a child process', () => {
  let dir = '';
  let runs = 0;

  beforeAll(async () => {
    await ensureBuilt();
    dir = await mkdtemp(join(tmpdir(), 'snapcopy-failpoint-file-'));
  }, 300_000);

  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** The child: each step either writes the arm file (`arm <content>`) or hits a failpoint; it prints each step (as JSON) before doing it. */
  const CHILD = `
    import { writeFileSync } from 'node:fs';
    const [module, file, steps] = process.argv.slice(1);
    const { failpoint } = await import(module);
    for (const step of JSON.parse(steps)) {
      process.stdout.write(JSON.stringify(step) + '\\n');
      if (step.startsWith('arm ')) writeFileSync(file, step.slice(4));
      else failpoint(step);
    }
    process.stdout.write('"done"\\n');
  `;

  /** Runs the steps in a child with SNAPCOPY_FAILPOINT_FILE set (the file absent at first): the lines it printed, how it ended. */
  function run(steps: string[]): Promise<{ lines: string[]; stderr: string; code: number | null; signal: NodeJS.Signals | null }> {
    const file = join(dir, `arm-${runs++}`);
    const module = pathToFileURL(join(ROOT, 'dist/failover/failpoints.js')).href;
    const env: NodeJS.ProcessEnv = { ...process.env, SNAPCOPY_FAILPOINT_FILE: file };
    delete env.SNAPCOPY_FAILPOINT;
    delete env.SNAPCOPY_FAILPOINTS_LOG;
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, module, file, JSON.stringify(steps)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (text: Buffer) => void (stdout += text.toString()));
    child.stderr.on('data', (text: Buffer) => void (stderr += text.toString()));
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ lines: stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as string), stderr, code, signal }));
    });
  }

  test('not armed (no file, then an empty one): runs through', async () => {
    const steps = ['refresh.end', 'refresh.end', 'arm ', 'refresh.end', 'arm \n', 'refresh.end'];
    const got = await run(steps);
    expect(got).toEqual({ lines: [...steps, 'done'], stderr: '', code: 0, signal: null });
  });

  test('<name>#2 in the file: SIGKILL at the 2nd hit of that name after it was written', async () => {
    const steps = ['refresh.end', 'refresh.end', 'arm refresh.end#2', 'refresh.start', 'refresh.end', 'refresh.start', 'refresh.end', 'refresh.end'];
    const got = await run(steps);
    expect(got).toEqual({ lines: steps.slice(0, 7), stderr: '', code: null, signal: 'SIGKILL' });
  });

  test('the content changed mid-run: the count restarts', async () => {
    // Had the count gone on, refresh.end#2 would never fire (the 3rd and 4th hits).
    const steps = ['arm refresh.end#3', 'refresh.end', 'refresh.end', 'arm refresh.end#2', 'refresh.end', 'refresh.end', 'refresh.end'];
    const got = await run(steps);
    expect(got).toEqual({ lines: steps.slice(0, 6), stderr: '', code: null, signal: 'SIGKILL' });
  });

  test('a spec that names no failpoint: one line with its code, and nothing is killed', async () => {
    const steps = ['arm undo.restord', 'undo.restored', 'undo.restored', 'undo.restored'];
    const got = await run(steps);
    expect(got.signal).toBeNull();
    expect(got.code).toBe(0);
    expect(got.lines).toEqual([...steps, 'done']);
    expect(got.stderr).toMatch(/^snapcopy: SNAPCOPY_FAILPOINT_FILE=\S+ holds "undo.restord", which names no failpoint .*\[ERR_INVALID_ARGUMENT\]\n$/);
  });
});
