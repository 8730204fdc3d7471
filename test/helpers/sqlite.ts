// SQLite as a test workload: whether the sqlite3 shell is here (the tests that need it
// say so and skip without it), and what a database file copied out of a volume holds.

import { execFileSync } from 'node:child_process';

export function hasSqlite(): boolean {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs a script on a database file; its output. */
export function sqlite(path: string, script: string): string {
  return execFileSync('sqlite3', [path, script], { encoding: 'utf8' });
}

/** A database file's `PRAGMA integrity_check` answer ('ok' when sound) and the rows of its table t. */
export function databaseCheck(path: string): { integrity: string; rows: number } {
  return { integrity: sqlite(path, 'PRAGMA integrity_check;').trim(), rows: Number(sqlite(path, 'SELECT count(*) FROM t;').trim()) };
}
