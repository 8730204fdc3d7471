// Bundles the built library (dist/, from tsc) into a few files for the processes that
// start often: the CLI (bin/snapcopy.mjs runs dist/bundle/cli.mjs) and the test children
// that are killed and started again (dist/bundle/index.mjs). Node compiles each ESM module
// of dist/ (175) apart when a process starts; as one bundle a start takes ~0.1 s less
// CPU (0.25 -> 0.17 s for `snapcopy --help`; the volume crash test's 100 children 50 -> 38
// CPU s). The library's own entry (package.json "main") stays dist/index.js.
//
// dist/bundle/ is two levels below the package root, as dist/status/ is, so the paths the
// library finds from import.meta.url (the status page's files, package.json) still hold.

import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// Chunks are named by their content: the last build's would stay beside the new ones.
rmSync(`${root}dist/bundle`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { cli: 'dist/commands/cli.js', index: 'dist/index.js' },
  outdir: 'dist/bundle',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  // What both entries share goes to one chunk, so neither carries a copy of the library.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Stack traces map back to src/ with node --enable-source-maps (through dist/'s own maps).
  sourcemap: true,
  logLevel: 'warning',
});
