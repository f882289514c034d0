import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/seeded-random.ts'],
    // Tests and their setup hooks (some run a whole `tfm train`) are sized by work, not by
    // seconds: the limits only catch a hang on a loaded 2-core machine. 120 s was too short
    // for the CLI tests that compile and run several models in a row: in a clean-clone CI on
    // a loaded machine they took 124–289 s.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
