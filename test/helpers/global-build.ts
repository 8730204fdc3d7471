// Vitest's global set-up: many suites start the built CLI (bin/snapcopy.mjs runs
// dist/bundle/) or children on the built library, so dist/ and its bundles are brought
// up to date with src/ once, before any test file runs (a no-op when they are).

import { ensureBuilt } from './built.js';

export default async function setup(): Promise<void> {
  await ensureBuilt();
}
