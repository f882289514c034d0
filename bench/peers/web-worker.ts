// A Web Worker global for Node 20, so that jax-js can run its wasm kernels on worker threads
// (it starts `new Worker(blobUrl, { type: 'module' })`, posts messages both ways and reads
// `navigator.hardwareConcurrency`). Each worker is a node:worker_threads Worker that
// evaluates the blob's script with `self`, `postMessage` and `self.onmessage` mapped onto
// its parent port; messages that arrive before the script are queued. Bench-only: the
// product's own threads (runtime/threads.ts) use worker_threads directly.
import { Worker as NodeWorker } from 'node:worker_threads';

const BOOT = `
const { parentPort } = require('node:worker_threads');
globalThis.self = globalThis;
globalThis.postMessage = (data) => parentPort.postMessage(data);
const pending = [];
let ready = false;
parentPort.on('message', (data) => {
  if (!ready) {
    if (data && typeof data === 'object' && '__workerScript' in data) {
      (0, eval)(data.__workerScript);
      ready = true;
      for (const p of pending.splice(0)) self.onmessage?.({ data: p });
    } else pending.push(data);
    return;
  }
  self.onmessage?.({ data });
});
`;

export function installWebWorkers(threads: number): void {
  const scripts = new Map<string, Promise<string>>();
  const create = URL.createObjectURL.bind(URL);
  URL.createObjectURL = (blob: Blob) => {
    const url = create(blob);
    scripts.set(url, blob.text());
    return url;
  };
  class WebWorker {
    onmessage: ((e: { data: unknown }) => void) | null = null;
    onerror: ((e: { message: string }) => void) | null = null;
    readonly #worker: NodeWorker;
    constructor(url: string | URL) {
      const script = scripts.get(String(url));
      if (!script) throw new Error(`web-worker adapter: only blob: URLs made by URL.createObjectURL are supported, not ${String(url)}`);
      this.#worker = new NodeWorker(BOOT, { eval: true });
      this.#worker.on('message', (data) => this.onmessage?.({ data }));
      this.#worker.on('error', (e) => this.onerror?.({ message: e.message }));
      void script.then((text) => this.#worker.postMessage({ __workerScript: text }));
    }
    postMessage(data: unknown): void {
      this.#worker.postMessage(data);
    }
    terminate(): void {
      void this.#worker.terminate();
    }
  }
  Object.assign(globalThis, { Worker: WebWorker });
  Object.defineProperty(globalThis, 'navigator', { value: { hardwareConcurrency: threads }, configurable: true });
}
