import { defineConfig } from 'vitest/config';

// The default suite: unit, integration and end-to-end tests. Chaos runs apart (vitest.chaos.config.ts).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/chaos/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Tests that share a system service (pcscd, the virtual reader) run one file at a time.
    fileParallelism: true,
    maxWorkers: 2,
    // Processes the tests start run the sources under test, never a compiled release left in dist/.
    env: { CIAO_FROM_SOURCE: '1' },
  },
});
