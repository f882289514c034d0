// The generation benchmark (section 5 of `npm run bench`; alone: `node --import ./bin/tsx.mjs bench/generation.ts`):
// prefill (the prompts in one pass, logits at every position) and decode (one token per row
// per pass) with a key/value cache, for gpt_tiny and gpt2_small at batch 1 and 8 — ours on the
// wasm target (2 threads; decode as a dims variant of the prefill executor) beside jax-js
// running the same model (bench/peers/jax-gen.ts, 2 worker threads, in a child process).
import { pathToFileURL } from 'node:url';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { TARGETS } from '../compiler/targets/index.ts';
import { Executor } from '../runtime/executor.ts';
import { initParams } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import { GEN_MODELS } from './configs.ts';
import { jaxChild, measure, printTable, randomIds, type Measured } from './measure.ts';

export async function generationBench(): Promise<void> {
  const gen = async (model: string, batch: number) => {
    const cfg = GEN_MODELS[model];
    const r = checkFiles([cfg.spec]);
    const dir = `out/bench/gen-${model}`;
    emit(compile(r.models[0], TARGETS.wasm, r.program.sources, { cache: true }), dir);
    const { program, source } = loadCompiled(dir);
    const ex = await Executor.create(program, source, { batch, seq: cfg.prompt, ctx: cfg.ctx }, { threads: 2, variants: [{ seq: 1 }] });
    initParams(ex, 1);
    const dec = ex.withDims({ seq: 1 });
    ex.input('tokens').set(randomIds(batch * cfg.prompt, cfg.vocab));
    ex.input('past').fill(0);
    const prefill = await measure('tfm wasm, 2 threads', () => (ex.forward(), ex.output('logits')[0]), model === 'gpt2_small' ? 3 : 10, 1);
    dec.input('tokens').set(randomIds(batch, cfg.vocab));
    dec.input('past').fill(cfg.prompt);
    const decode = await measure('tfm wasm, 2 threads', () => (dec.forward(), dec.output('logits')[0]), model === 'gpt2_small' ? 12 : 40, 2);
    ex.close();
    let peer: { prefill: Measured; decode: Measured } | undefined;
    try {
      peer = jaxChild(`gen:${model}:${batch}`, 2, model === 'gpt2_small' ? 3 : 10);
    } catch (e) {
      console.log(`  (${(e as Error).message})`);
    }
    const title = `${model} generation, batch ${batch}: prefill of ${cfg.prompt} tokens per row (logits at every position), into a cache of ${cfg.ctx}`;
    printTable(`${title} — prefill:`, [prefill, peer?.prefill], (m) => `${((batch * cfg.prompt) / m.ms * 1000).toFixed(0)} tokens/s`, prefill, 'wasm, 2 threads');
    printTable(`${title} — decode, one token per row per pass:`, [decode, peer?.decode], (m) => `${(batch / m.ms * 1000).toFixed(1)} tokens/s`, decode, 'wasm, 2 threads');
  };
  for (const model of ['gpt_tiny', 'gpt2_small']) for (const batch of [1, 8]) await gen(model, batch);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  await generationBench();
  process.exit(0);
}
