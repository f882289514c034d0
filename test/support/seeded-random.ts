// Setup of every test file (vitest.config.ts): Math.random is a seeded generator, reseeded
// before each test from one run seed and the test's name, so that every random input is
// reproducible — a test draws the same numbers alone, in its file, or in shuffled order. The
// run seed is fresh unless TEST_SEED is set; a failing test prints the command that replays it.
import { beforeEach } from 'vitest';
import { Rng } from '../../runtime/init.ts';

const fresh = Math.random;
const runSeed = process.env.TEST_SEED !== undefined ? Number(process.env.TEST_SEED) : Math.floor(fresh() * 2 ** 31);

/** Floats in [0, 1) from the runtime's seeded generator (sfc32). */
function seeded(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function hash(text: string, seed: number): number {
  let h = seed ^ 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

// Module-level draws (before any test) come from the run seed too.
Math.random = seeded(runSeed);

beforeEach(({ task, onTestFailed }) => {
  const name = task.name;
  Math.random = seeded(hash(`${task.file?.name ?? ''}::${name}`, runSeed));
  onTestFailed(() => {
    console.error(`random inputs of this test: TEST_SEED=${runSeed} npx vitest run ${task.file?.name ?? ''} -t ${JSON.stringify(name)}`);
  });
});
