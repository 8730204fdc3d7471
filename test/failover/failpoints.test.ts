// Failpoints (src/failover/failpoints.ts): the environment read at load names the point
// and its hit; that hit, and no other, kills the process with SIGKILL; every hit goes to
// the log when one is named; a name that is no failpoint is said once and ignored. The
// kill itself is caught here (process.kill stubbed); test/failover/crash.test.ts lets real
// nodes die by it.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';

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
