import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/seeded-random.ts'],
    // Tests and their setup hooks (some run a whole `tfm train`) are sized by work, not by
    // seconds: the limits only catch a hang on a loaded 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
