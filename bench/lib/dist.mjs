// Where the benchmarks load the library from: ../../dist (npm run build), or the build
// in SNAPCOPY_DIST_DIR (a directory like dist/, e.g. `tsc -p . --outDir /tmp/x`), so two
// builds can be timed from one tree while others keep working on it.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = process.env.SNAPCOPY_DIST_DIR;
export const DIST_URL = dir ? pathToFileURL(`${resolve(dir)}/`) : new URL('../../dist/', import.meta.url);
export const lib = await import(new URL('index.js', DIST_URL).href);
/** A module of the build by its path inside it, e.g. 'kernels/block-compare.js'. */
export const distModule = (path) => import(new URL(path, DIST_URL).href);

/** Which build runs: dist/ of this tree (as of its last `npm run build`), or SNAPCOPY_DIST_DIR with the commit in its tree's COMMIT file. */
export function buildOf() {
  if (!dir) return { dist: 'dist/ of the working tree', commit: gitHead() };
  let commit = '?';
  try {
    commit = readFileSync(join(dir, '..', 'COMMIT'), 'utf8').trim();
  } catch { /* a build without a COMMIT file */ }
  return { dist: dir, commit };
}

function gitHead() {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}
