// Crash tests run child processes on the built library (dist/, plain ESM, and its bundles
// in dist/bundle/, which start faster): ensureBuilt runs `npm run build` when src/ (or
// assembly/) is newer than dist/, one builder at a time across the test processes of both
// backend projects.

import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else out.push(path);
  }
  return out;
}

/** The first source file that dist/ does not reflect, or undefined. */
function staleSource(): string | undefined {
  const src = join(ROOT, 'src');
  for (const file of walk(src)) {
    if (!file.endsWith('.ts') || file.endsWith('.d.ts')) continue;
    const js = join(ROOT, 'dist', relative(src, file).replace(/\.ts$/, '.js'));
    if (!existsSync(js) || statSync(js).mtimeMs < statSync(file).mtimeMs) return relative(ROOT, file);
  }
  const generated = join(ROOT, 'src/kernels/wasm/kernels-wasm.generated.ts');
  if (!existsSync(generated)) return 'src/kernels/wasm/kernels-wasm.generated.ts';
  for (const file of walk(join(ROOT, 'assembly'))) {
    if (file.endsWith('.ts') && statSync(file).mtimeMs > statSync(generated).mtimeMs) return relative(ROOT, file);
  }
  return undefined;
}

const BUNDLE = join(ROOT, 'dist', 'bundle');
const BUNDLES = ['cli.mjs', 'index.mjs'].map((name) => join(BUNDLE, name));

/** The first module of dist/ newer than the bundles of it (scripts/bundle.mjs), or undefined. */
function staleBundle(): string | undefined {
  const missing = BUNDLES.find((file) => !existsSync(file));
  if (missing) return relative(ROOT, missing);
  const bundled = Math.min(...BUNDLES.map((file) => statSync(file).mtimeMs));
  const newer = walk(join(ROOT, 'dist')).find((file) => !file.startsWith(BUNDLE) && file.endsWith('.js') && statSync(file).mtimeMs > bundled);
  return newer && relative(ROOT, newer);
}

/**
 * Runs `npm run build` when dist/ is stale, or only scripts/bundle.mjs when dist/ is
 * fresh but its bundles are not (after a bare `tsc -p .`), one builder at a time.
 */
export async function ensureBuilt(): Promise<void> {
  if (!staleSource() && !staleBundle()) return;
  const lock = join(tmpdir(), `snapcopy-crash-build-${Buffer.from(ROOT).toString('hex').slice(-24)}.lock`);
  for (const started = Date.now(); ;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch {
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 300_000) rmSync(lock, { force: true });
      if (Date.now() - started > 300_000) throw new Error(`waited 5 minutes for ${lock}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    if (!staleSource() && !staleBundle()) return;
    const [command, args] = staleSource() ? ['npm', ['run', 'build']] : [process.execPath, [join(ROOT, 'scripts', 'bundle.mjs')]];
    let output = '';
    try {
      execFileSync(command, args, { cwd: ROOT, stdio: 'pipe', encoding: 'utf8' });
    } catch (error) {
      // tsc emits even when it reports type errors; what matters is whether dist/ caught up.
      output = String((error as { stdout?: string }).stdout ?? '') + String((error as { stderr?: string }).stderr ?? '');
    }
    const still = staleSource() ?? staleBundle();
    if (still) throw new Error(`dist/ is stale (${still} is newer, or missing) and ${args.join(' ')} did not fix it:\n${output}`);
  } finally {
    rmSync(lock, { force: true });
  }
}
