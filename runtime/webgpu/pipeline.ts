// What the executor and the single-kernel runner (kernel.ts) share: a kernel's compute
// pipelines, one per phase (common/wgsl.ts), over one explicit bind group layout — its
// buffers, then the uniform of dims and scalars — so that one bind group serves every phase,
// and bindings a phase leaves unused stay in it; the uniform's contents; device buffers; and
// the dispatches of one call. The shader module is checked first: a compilation error or
// warning is TFM7002, before any dispatch.
import { evalHostExpr, textureExtent, TEXTURE_ROWS, TEXTURE_WIDTH, type WgslKernel } from '../../common/wgsl.ts';
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

/** What a buffer read through a texture (WgslDispatch `texture`) is copied into before each
 *  call: an rgba32float texture_2d_array in common/wgsl.ts's layout, enough for `floats`. */
export interface TextureCopy {
  texture: GPUTexture;
  /** The source: a buffer, the byte offset (a multiple of 16) and the floats to copy. */
  buffer: GPUBuffer;
  offset: number;
  floats: number;
  /** Texels a row and rows a layer (the shaders': TEXTURE_WIDTH, TEXTURE_ROWS). */
  width: number;
  rows: number;
  /** The source buffer's version (`wrote`) when it was last copied: a copy is skipped while
   *  the buffer has not been written since (the weights of a decoder, between tokens). */
  copied?: number;
}

/** How many times each device buffer has been written, by a dispatch or from the host, in
 *  the order the queue will run them: whoever writes one says so (`wrote`), and a texture
 *  copied from it since is current. One count for the process, since executors for other dims
 *  (GpuExecutor.withDims) share their owner's buffers. */
const versions = new WeakMap<GPUBuffer, number>();

export function wrote(buffer: GPUBuffer): void {
  versions.set(buffer, (versions.get(buffer) ?? 0) + 1);
}

/** The texture `floats` floats of `buffer` from byte `offset` are read through (`layout`:
 *  other than the shaders' only to test the copies on small textures). */
export function bufferTexture(device: GPUDevice, label: string, buffer: GPUBuffer, offset: number, floats: number, layout = { width: TEXTURE_WIDTH, rows: TEXTURE_ROWS }): TextureCopy {
  if (offset % 16) throw new Error(`internal: ${label} starts at byte ${offset}, not a multiple of 16`);
  // TEXTURE_BINDING | COPY_DST, and COPY_SRC to read it back in tests
  const texture = device.createTexture({ label, size: textureExtent(floats, layout), format: 'rgba32float', usage: 0x04 | 0x02 | 0x01 });
  return { texture, buffer, offset, floats, ...layout };
}

/** Encodes the copies of a call's textures whose buffers were written since their last copy:
 *  whole layers, then whole rows of the last, then the last row's texels. */
export function encodeCopies(enc: GPUCommandEncoder, copies: TextureCopy[]): void {
  for (const c of copies) {
    const version = versions.get(c.buffer) ?? 0;
    if (c.copied === version) continue;
    c.copied = version;
    const row = c.width * 16;
    const texels = Math.max(1, Math.ceil(c.floats / 4));
    const rows = Math.floor(texels / c.width);
    const layers = Math.floor(rows / c.rows);
    const lastRows = rows - layers * c.rows;
    const rest = texels - rows * c.width;
    const src = (at: number) => ({ buffer: c.buffer, offset: c.offset + at * row, bytesPerRow: row, rowsPerImage: c.rows });
    if (layers) enc.copyBufferToTexture(src(0), { texture: c.texture }, [c.width, c.rows, layers]);
    if (lastRows) enc.copyBufferToTexture(src(layers * c.rows), { texture: c.texture, origin: [0, 0, layers] }, [c.width, lastRows, 1]);
    if (rest) enc.copyBufferToTexture(src(rows), { texture: c.texture, origin: [0, lastRows, layers] }, [rest, 1, 1]);
  }
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
  const entries: GPUBindGroupLayoutEntry[] = d.buffers.map((b, n) =>
    b.texture ? { binding: n, visibility: COMPUTE, texture: { sampleType: 'unfilterable-float', viewDimension: '2d-array' } } : { binding: n, visibility: COMPUTE, buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' } },
  );
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
