import { defineConfig } from 'vitest/config';

// The whole suite runs once per kernel backend: test/helpers/backend.ts reads
// SNAPCOPY_KERNELS and every arena the tests make uses that backend.
const backends = ['wasm', 'ts'] as const;

export default defineConfig({
  test: {
    // Two files at a time on this 2-core machine (vitest's default is one fewer than the
    // cores): most suites wait on fsync, child processes and sockets, so a second file
    // overlaps them. The whole suite took 10 min 38 s instead of 13 min 43 s, all passing.
    maxWorkers: 2,
    // Byte arrays compare as bytes (Vitest's element walk took seconds per MiB).
    setupFiles: ['test/helpers/bytes-equality.ts'],
    // dist/ and dist/bundle/ rebuilt first if src/ is newer (the CLI and test children run them).
    globalSetup: ['test/helpers/global-build.ts'],
    projects: backends.map((backend) => ({
      extends: true,
      test: {
        name: backend,
        include: ['test/**/*.test.ts'],
        env: { SNAPCOPY_KERNELS: backend },
        testTimeout: 120_000,
      },
    })),
  },
});
