// A kernel's compute pipelines, one per phase (common/wgsl.ts), over one explicit bind group
// layout — its buffers, then the uniform of dims and scalars — so that one bind group serves
// every phase, and bindings a phase leaves unused stay in it. The shader module is checked
// first: a compilation error or warning is TFM7002, before any dispatch.
import { evalHostExpr, type WgslKernel } from '../../common/wgsl.ts';
import { TfmError } from '../../common/errors.ts';

export interface KernelPipelines {
  layout: GPUBindGroupLayout;
  pipelines: GPUComputePipeline[];
}

const COMPUTE = 0x4; // GPUShaderStage.COMPUTE

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
