// Registers tsx's loader, so that Node imports the TypeScript sources directly: used by
// bin/tfm.js when the bundle is stale, by cli/lazy.ts for the commands that compile or run
// models, and as `node --import ./bin/tsx.mjs <file.ts>` by the benchmarks and scripts.
//
// binaryen is imported natively first. tsx's loader rewrites every ES module it loads, and
// binaryen's index.js is 15 MB of JavaScript: through the loader it took ~30 s to import
// (1.4 s natively) — on every command that compiles, and in every test that runs one. Once it
// is in Node's module cache, the TypeScript sources' `import binaryen from 'binaryen'` finds it
// there and the loader never sees it again.
await import('binaryen');
const { register } = await import('tsx/esm/api');
register();
