// Locks between processes: a LOCK file made with O_EXCL that names its owner's pid.
// A lock whose owner is gone (a killed process) is stale and is taken over. A node
// locks <data>/node; a process that opens a volume locks that volume's directory, so
// processes work side by side on different volumes of one data directory.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { SnapcopyError } from '../errors.js';

export interface DirLock {
  readonly path: string;
  release(): Promise<void>;
}

export interface LockOptions {
  /** Seconds to keep trying while another live process holds the lock (default 0). */
  waitSeconds?: number;
  /** What is being locked, for the error ("volume vol"); default the directory's path. */
  what?: string;
}

const RETRY_MS = 50;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function tryCreate(path: string): Promise<boolean> {
  try {
    const handle = await fs.open(path, 'wx', 0o644);
    try {
      await handle.writeFile(`${process.pid}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function owner(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await fs.readFile(path, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of the live process that holds `dir`'s lock, if one does. */
export async function lockHolder(dir: string): Promise<number | undefined> {
  const pid = await owner(join(dir, 'LOCK'));
  return pid !== undefined && alive(pid) ? pid : undefined;
}

/** One attempt: the lock, or the live pid that holds it. */
async function attempt(dir: string, what: string): Promise<DirLock | number> {
  const path = join(dir, 'LOCK');
  for (let round = 0; round < 2; round++) {
    if (await tryCreate(path)) return { path, release: () => fs.rm(path, { force: true }) };
    const pid = await owner(path);
    if (pid === process.pid) throw new SnapcopyError('ERR_LOCKED', `${what} is already open in this process`);
    if (pid !== undefined && alive(pid)) return pid;
    // The owner died without unlocking (or left a torn file): take the lock over.
    await fs.rm(path, { force: true });
  }
  throw new SnapcopyError('ERR_LOCKED', `${what} could not be locked`);
}

/**
 * Locks `dir` for this process, waiting up to `waitSeconds` for a live holder to let
 * go; then throws ERR_LOCKED naming the process that holds it.
 */
export async function lockDir(dir: string, options: LockOptions = {}): Promise<DirLock> {
  const what = options.what ?? `data directory ${dir}`;
  const deadline = Date.now() + (options.waitSeconds ?? 0) * 1000;
  for (;;) {
    const got = await attempt(dir, what);
    if (typeof got !== 'number') return got;
    if (Date.now() >= deadline) {
      throw new SnapcopyError('ERR_LOCKED', `${what} is in use by process ${got}${options.waitSeconds ? ` (waited ${options.waitSeconds} s)` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MS, Math.max(1, deadline - Date.now()))));
  }
}
