// Where the benchmarks load the library from: ../../dist (npm run build), or the build
// in SNAPCOPY_DIST_DIR (a directory like dist/, e.g. `tsc -p . --outDir /tmp/x`), so two
// builds can be timed from one tree while others keep working on it.

import { resolve } from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const dir = process.env.SNAPCOPY_DIST_DIR;
export const DIST_URL = dir ? pathToFileURL(`${resolve(dir)}/`) : new URL('../../dist/', import.meta.url);
export const lib = await import(new URL('index.js', DIST_URL).href);
/** A module of the build by its path inside it, e.g. 'kernels/block-compare.js'. */
export const distModule = (path) => import(new URL(path, DIST_URL).href);
