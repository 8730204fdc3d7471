// The status page's files: its own (src/status/page/: plain HTML, CSS and script, no build
// step) and uPlot's, served from node_modules. Both are found from this module's place,
// which is src/status/ or dist/status/: two levels below the package root either way.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const PAGE_DIR = new URL('../../src/status/page/', import.meta.url);
const require = createRequire(import.meta.url);

interface Asset {
  path: () => string;
  type: string;
}

export const ASSETS: Record<string, Asset> = {
  '/': { path: () => fileURLToPath(new URL('index.html', PAGE_DIR)), type: 'text/html; charset=utf-8' },
  '/status/app.js': { path: () => fileURLToPath(new URL('app.js', PAGE_DIR)), type: 'text/javascript; charset=utf-8' },
  '/status/app.css': { path: () => fileURLToPath(new URL('app.css', PAGE_DIR)), type: 'text/css; charset=utf-8' },
  '/status/uplot.js': { path: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/status/uplot.css': { path: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const cache = new Map<string, Buffer>();

/** An asset's bytes, read once (they do not change while the node runs). */
export async function assetBytes(pathname: string): Promise<Buffer> {
  let bytes = cache.get(pathname);
  if (!bytes) {
    bytes = await readFile(ASSETS[pathname]!.path());
    cache.set(pathname, bytes);
  }
  return bytes;
}
