// What the executor and the single-kernel runner (kernel.ts) share: a kernel's compute
// pipelines, one per phase (common/wgsl.ts), over one explicit bind group layout — its
// buffers, then the uniform of dims and scalars — so that one bind group serves every phase,
// and bindings a phase leaves unused stay in it; the uniform's contents; device buffers; and
// the dispatches of one call. The shader module is checked first: a compilation error or
// warning is TFM7002, before any dispatch.
import { evalHostExpr, type WgslKernel } from '../../common/wgsl.ts';
import { TfmError } from '../../common/errors.ts';

export interface KernelPipelines {
  layout: GPUBindGroupLayout;
  pipelines: GPUComputePipeline[];
}

const COMPUTE = 0x4; // GPUShaderStage.COMPUTE
// GPUBufferUsage flags (Node has the GPUBufferUsage global only once Dawn is set up).
export const STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
export const UNIFORM = 0x40 | 0x08; // UNIFORM | COPY_DST
export const READBACK = 0x01 | 0x08; // MAP_READ | COPY_DST

/** `bytes` in whole 16-byte units (16 at least): what device buffers are sized in, and what
 *  a buffer is bound as, so that a kernel may read it as vec4<f32>s up to its last float. */
export function whole16(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/** A device buffer of at least `bytes` bytes (whole16). */
export function deviceBuffer(device: GPUDevice, bytes: number, usage = STORAGE): GPUBuffer {
  return device.createBuffer({ size: whole16(bytes), usage });
}

/** A kernel's uniform, when it has dims or scalars: the dims as i32, then the scalars as f32
 *  (4 bytes each, from byte 0), in a buffer written once here; `data` is its host copy. */
export function kernelUniform(device: GPUDevice, k: WgslKernel, dims: Record<string, number>, scalars: number[] = []): { buffer: GPUBuffer; data: ArrayBuffer } | undefined {
  const d = k.dispatch;
  if (d.dims.length + d.scalars.length === 0) return undefined;
  const data = new ArrayBuffer(whole16(4 * (d.dims.length + d.scalars.length)));
  const ints = new Int32Array(data);
  d.dims.forEach((name, n) => (ints[n] = evalHostExpr(name, dims)));
  new Float32Array(data).set(scalars, d.dims.length);
  const buffer = deviceBuffer(device, data.byteLength, UNIFORM);
  device.queue.writeBuffer(buffer, 0, data);
  return { buffer, data };
}

/** Encodes one call of a kernel: its bind group, then each phase that has work, in order. */
export function encodeCall(pass: GPUComputePassEncoder, bindGroup: GPUBindGroup, phases: { pipeline: GPUComputePipeline; groups: [number, number] }[]): void {
  pass.setBindGroup(0, bindGroup);
  for (const ph of phases) {
    if (!ph.groups[0]) continue;
    pass.setPipeline(ph.pipeline);
    pass.dispatchWorkgroups(ph.groups[0], ph.groups[1]);
  }
}

export async function kernelPipelines(device: GPUDevice, k: WgslKernel): Promise<KernelPipelines> {
  const module = device.createShaderModule({ label: k.name, code: k.code });
  const info = await module.getCompilationInfo();
  if (info.messages.length) {
    const lines = info.messages.map((m) => `${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`);
    throw new TfmError('TFM7002', `kernel ${k.name} does not compile on this device:\n${lines.join('\n')}`);
  }
  const d = k.dispatch;
  const entries: GPUBindGroupLayoutEntry[] = d.buffers.map((b, n) => ({ binding: n, visibility: COMPUTE, buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' } }));
  if (d.dims.length + d.scalars.length > 0) entries.push({ binding: d.buffers.length, visibility: COMPUTE, buffer: { type: 'uniform' } });
  const layout = device.createBindGroupLayout({ label: k.name, entries });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  const pipelines = await Promise.all(d.phases.map((ph) => device.createComputePipelineAsync({ label: `${k.name}.${ph.entry}`, layout: pipelineLayout, compute: { module, entryPoint: ph.entry } })));
  return { layout, pipelines };
}

/** Workgroups in x and y for each phase at these dims (x within the device's limit; 0 when
 *  a phase has nothing to do). */
export function workgroupCounts(device: GPUDevice, k: WgslKernel, dims: Record<string, number>): [number, number][] {
  return k.dispatch.phases.map((ph) => {
    const wgs = Math.ceil(evalHostExpr(ph.invocations, dims) / ph.workgroup);
    const x = Math.min(wgs, device.limits.maxComputeWorkgroupsPerDimension);
    return [x, x ? Math.ceil(wgs / x) : 0];
  });
}
