import { defineConfig } from 'vitest/config';

// The chaos suite (`npm run test:chaos`): the whole product on loopback with real processes killed, links cut,
// ONSS failing and the gateway's disk full. One file at a time: each one loads both cores on its own.
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    // Processes the tests start run the sources under test, never a compiled release left in dist/.
    env: { CIAO_FROM_SOURCE: '1' },
  },
});
