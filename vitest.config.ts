import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Deadlines, not expectations: generous so a loaded machine is slow, not red.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Vitest's default on a 2-core machine is ONE worker (cores - 1), so every file ran after the
    // other. Most runtime files wait on processes and the network rather than burn CPU, and the
    // governance fuzzer is split into shards: three workers keep both cores busy.
    pool: 'forks',
    maxWorkers: 3,
    minWorkers: 1,
  },
});
