// One WGSL kernel run by itself on given data: what the tests use to hold each kernel to the
// float64 reference, and the benchmark to time one. Write-only buffers are poisoned with NaN
// first, so that an element the kernel fails to write shows.
import type { WgslKernel } from '../../common/wgsl.ts';
import { bufferTexture, deviceBuffer, encodeCall, encodeCopies, kernelPipelines, kernelUniform, READBACK, whole16, workgroupCounts } from './pipeline.ts';
import type { GpuContext } from './device.ts';

type Data = Float32Array | Int32Array;

export interface KernelRun {
  /** Runs the kernel `times` times in one submission and waits for it; returns every buffer's
   *  contents afterwards (in binding order). */
  run(times?: number): Promise<Data[]>;
  destroy(): void;
}

/** Prepares `k` over `data` (binding order: an array of the buffer's type, or for a write-only
 *  buffer its length), run-time `dims` and `scalars`. */
export async function prepareKernel(gpu: GpuContext, k: WgslKernel, data: (Data | number)[], dims: Record<string, number>, scalars: number[] = []): Promise<KernelRun> {
  const device = gpu.device;
  const d = k.dispatch;
  if (data.length !== d.buffers.length) throw new Error(`kernel ${k.name} binds ${d.buffers.length} buffers, got ${data.length}`);
  const { layout, pipelines } = await kernelPipelines(device, k);
  const buffers = data.map((x, n) => {
    const len = typeof x === 'number' ? x : x.length;
    const buf = deviceBuffer(device, 4 * len);
    const init = typeof x === 'number' ? (d.buffers[n].t === 'i32' ? new Int32Array(len).fill(-0x7fffffff) : new Float32Array(len).fill(NaN)) : x.buffer instanceof ArrayBuffer ? x : x.slice();
    device.queue.writeBuffer(buf, 0, init.buffer, init.byteOffset, init.byteLength);
    return { buf, len, t: d.buffers[n].t };
  });
  // A buffer read through a texture is copied into it before every run of the kernel.
  const copies = buffers.flatMap((b, n) => (d.buffers[n].texture ? [{ n, copy: bufferTexture(device, `${k.name}.${d.buffers[n].name}`, b.buf, 0, b.len) }] : []));
  const entries: GPUBindGroupEntry[] = buffers.map((b, n) => {
    const t = copies.find((c) => c.n === n);
    return { binding: n, resource: t ? t.copy.texture.createView({ dimension: '2d-array' }) : { buffer: b.buf, offset: 0, size: whole16(4 * b.len) } };
  });
  const uniform = kernelUniform(device, k, dims, scalars);
  if (uniform) entries.push({ binding: buffers.length, resource: { buffer: uniform.buffer } });
  const bindGroup = device.createBindGroup({ layout, entries });
  const groups = workgroupCounts(device, k, dims);
  const phases = pipelines.map((pipeline, n) => ({ pipeline, groups: groups[n] }));
  return {
    async run(times = 1) {
      const enc = device.createCommandEncoder();
      encodeCopies(enc, copies.map((c) => c.copy));
      const pass = enc.beginComputePass();
      for (let t = 0; t < times; t++) encodeCall(pass, bindGroup, phases);
      pass.end();
      const staging = buffers.map((b) => {
        const s = deviceBuffer(device, 4 * b.len, READBACK);
        enc.copyBufferToBuffer(b.buf, 0, s, 0, s.size);
        return s;
      });
      device.queue.submit([enc.finish()]);
      const out: Data[] = [];
      for (const [n, s] of staging.entries()) {
        await s.mapAsync(1);
        const bytes = s.getMappedRange().slice(0, 4 * buffers[n].len);
        s.unmap();
        s.destroy();
        out.push(buffers[n].t === 'i32' ? new Int32Array(bytes) : new Float32Array(bytes));
      }
      return out;
    },
    destroy() {
      for (const b of buffers) b.buf.destroy();
      for (const c of copies) c.copy.texture.destroy();
      uniform?.buffer.destroy();
    },
  };
}
