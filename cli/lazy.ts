// The commands that compile or run models (`compile`, `forward`, `train`, `import`, `export`)
// load the code generator and the runtime only when they run: `tfm check` and `tfm params`
// start without them (see scripts/build.mjs). From the bundle, those modules are TypeScript
// sources, so tsx's loader is registered first (bin/tsx.mjs, which also
// loads binaryen natively); from source it is already active.
let tsxReady = import.meta.url.endsWith('.ts');

export async function loadSource<T>(relativeToCli: string): Promise<T> {
  if (!tsxReady) {
    // bin/tsx.mjs resolves the same from cli/lazy.ts and from dist/tfm.mjs.
    await import(new URL('../bin/tsx.mjs', import.meta.url).href);
    tsxReady = true;
  }
  // `../cli/` resolves the same from cli/lazy.ts and from dist/tfm.mjs.
  return (await import(new URL(`../cli/${relativeToCli}`, import.meta.url).href)) as T;
}
