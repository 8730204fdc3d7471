// Compiles a bench-only WebAssembly module (bench/wasm/<name>.ts) with the project's asc,
// as the kernels are built (SIMD, imported memory, no runtime): returns its bytes.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function compileBenchWasm(name) {
  const dir = mkdtempSync(join(os.tmpdir(), `snapcopy-${name}-`));
  try {
    const out = join(dir, `${name}.wasm`);
    execFileSync(process.execPath, [join(ROOT, 'node_modules/assemblyscript/bin/asc.js'), join(ROOT, `bench/wasm/${name}.ts`),
      '-O3', '--runtime', 'stub', '--enable', 'simd', '--importMemory', '--noAssert', '-o', out], { stdio: 'inherit' });
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
