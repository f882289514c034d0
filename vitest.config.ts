import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/seeded-random.ts'],
    // Tests and their setup hooks (some run a whole `tfm train`) are sized by work, not by
    // seconds: the limits only catch a hang on a loaded 2-core machine. The CLI tests that
    // compile and run several models in a row once took 124–289 s in a clean-clone CI (each
    // command then spent ~30 s importing binaryen through tsx's loader; bin/tsx.mjs now
    // loads it natively, and they take 15–50 s), so the limit keeps a wide margin.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
