import { defineConfig } from 'vitest/config';

// The whole suite runs once per kernel backend: test/helpers/backend.ts reads
// SNAPCOPY_KERNELS and every arena the tests make uses that backend.
const backends = ['wasm', 'ts'] as const;

export default defineConfig({
  test: {
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
