#!/usr/bin/env node
// The snapcopy command line (built from src/commands/ into dist/ by `npm run build`, and
// bundled into dist/bundle/ so that it starts fast: scripts/bundle.mjs).
import process from 'node:process';
import { main } from '../dist/bundle/cli.mjs';

// A reader that stops early (snapcopy cat ... | head) is not an error of ours.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});
process.exitCode = await main(process.argv.slice(2));
