// One process per data directory: a LOCK file made with O_EXCL that names its owner's
// pid. A lock whose owner is gone (a killed process) is stale and is taken over.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { SnapcopyError } from '../errors.js';

export interface DirLock {
  release(): Promise<void>;
}

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

/** Locks `dir` for this process, or throws ERR_LOCKED naming the process that holds it. */
export async function lockDir(dir: string): Promise<DirLock> {
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await tryCreate(path)) {
      return { release: () => fs.rm(path, { force: true }) };
    }
    const pid = await owner(path);
    if (pid !== undefined && pid !== process.pid && alive(pid)) {
      throw new SnapcopyError('ERR_LOCKED', `data directory ${dir} is in use by process ${pid}`);
    }
    if (pid === process.pid) {
      throw new SnapcopyError('ERR_LOCKED', `data directory ${dir} is already open in this process`);
    }
    // The owner died without unlocking (or left a torn file): take the lock over.
    await fs.rm(path, { force: true });
  }
  throw new SnapcopyError('ERR_LOCKED', `data directory ${dir} could not be locked`);
}
