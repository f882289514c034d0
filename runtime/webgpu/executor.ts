// The WebGPU executor: the program's buffers on the device (from its memory plan), one
// compute pipeline per WGSL kernel and one bind group per program step, both created once;
// a training step is one command buffer per micro-batch, and nothing is read back but the
// loss and the gradient norm (and what the caller asks for). Its methods mirror the CPU
// Executor's, made async where the device answers later.
//
// Parameters, gradients, Adam moments and the decay mask are each one device buffer (the
// optimizer kernels run over all of them at once, as on the CPU). Each parameter starts at a
// multiple of the device's storage-offset alignment so that kernels can bind it alone; the
// gaps are zeros that the optimizer leaves at zero. On the host, `paramArena` is the CPU
// layout (packed, program order), the one checkpoints use; push / pull move it and the Adam
// moments across, and pull reads the device only when an update has run since.
import { numel, OPT, storageOf, type Program } from '../../common/program.ts';
import { parseWgsl, type WgslKernel } from '../../common/wgsl.ts';
import { bufferTexture, deviceBuffer, encodeCall, encodeCopies, kernelPipelines, wrote, kernelUniform, READBACK, whole16, workgroupCounts, type KernelPipelines, type TextureCopy } from './pipeline.ts';
import { TfmError } from '../../common/errors.ts';
import type { AdamWSettings, ModelRunner } from '../executor.ts';
import { gpuContext, type GpuContext } from './device.ts';

interface Region {
  buffer: GPUBuffer;
  /** Byte offset and size of the binding. */
  offset: number;
  size: number;
}

interface Call {
  /** Each phase's pipeline and workgroups in x and y (0: nothing to run), in order. */
  phases: { pipeline: GPUComputePipeline; groups: [number, number] }[];
  bindGroup: GPUBindGroup;
  /** The uniform of dims and scalars, when the kernel has one (optimizer calls rewrite it). */
  uniform?: { buffer: GPUBuffer; data: ArrayBuffer; dims: number };
  /** The buffers it reads through textures, copied into them before it runs. */
  copies: TextureCopy[];
  /** The buffers it writes (pipeline.ts `wrote`). */
  writes: GPUBuffer[];
  name: string;
  /** Its index for onKernel: the program step, or steps.length + the optimizer task (OPT). */
  index: number;
}


export class GpuExecutor implements ModelRunner {
  /** The parameters on the host, packed in program order (the CPU executor's layout). */
  readonly paramArena: Float32Array;
  /** The Adam moments on the host, in the same layout (pull / push move them). */
  readonly mem: { m: Float32Array; v: Float32Array };
  /** The inputs on the host and where they go: each forward pass (and micro-batch) sends them. */
  private readonly inputs = new Map<string, { host: Float32Array | Int32Array; region: Region }>();
  /** Optimizer steps taken (AdamW's bias correction counts from 1). */
  steps = 0;
  private readonly regions: Region[];
  private readonly calls: Call[];
  private readonly forwardSteps: number[];
  private readonly backwardSteps: number[];
  /** The optimizer's calls (none in an inference program, which has no optimizer state). */
  private readonly optCalls?: { gradNorm: Call; adamw: Call; gradNormAcc: Call; adamwAcc: Call; accumulate: Call };
  /** Kept to make executors of the same buffers for other dims (withDims). */
  private readonly kernels: Map<string, WgslKernel>;
  private readonly pipelines: Map<string, KernelPipelines>;
  /** Made by withDims: the buffers belong to another executor, which frees them. */
  private readonly borrowed: boolean;
  /** Where each parameter starts in the device arenas, in elements. */
  private readonly deviceOffsets: number[];
  private readonly hostOffsets: number[];
  private readonly arenas: { params: GPUBuffer; grads: GPUBuffer; acc: GPUBuffer; m: GPUBuffer; v: GPUBuffer; decay: GPUBuffer; clip: GPUBuffer };
  private readonly arenaElems: number;
  private lost?: string;
  /** Whether the host parameters and moments are the device's (no update since push / pull). */
  private hostCurrent = false;
  /** When set, called with each kernel call's index (program steps, then the optimizer's
   *  tasks, as the CPU executor numbers them) and its device time in ms, from timestamp
   *  queries: the per-kernel profile (`tfm train --profile`). */
  onKernel?: (index: number, ms: number) => void;
  get kernelClock(): string | undefined {
    return this.gpu.timestamps ? 'device time between timestamp queries around each call' : undefined;
  }
  /** The textures kernels read buffers through (pipeline.ts), by buffer and region; this
   *  executor's own, even when its buffers are borrowed (withDims). */
  private readonly textures = new Map<GPUBuffer, Map<string, TextureCopy>>();
  /** Timestamp readbacks of profiled submissions not yet reported. */
  private profiling: Promise<void>[] = [];

  private constructor(
    readonly program: Program,
    readonly dims: Record<string, number>,
    readonly gpu: GpuContext,
    kernels: Map<string, WgslKernel>,
    pipelines: Map<string, KernelPipelines>,
    owner?: GpuExecutor,
  ) {
    const device = gpu.device;
    this.kernels = kernels;
    this.pipelines = pipelines;
    this.borrowed = owner !== undefined;
    void device.lost.then((info) => (this.lost = `${info.reason}: ${info.message}`));
    const count = (shape: (number | string)[]) => numel(shape, dims);
    const align = device.limits.minStorageBufferOffsetAlignment / 4;
    this.deviceOffsets = [];
    this.hostOffsets = [];
    let dev = 0;
    let host = 0;
    for (const p of program.params) {
      this.deviceOffsets.push(dev);
      this.hostOffsets.push(host);
      const n = count(program.buffers[p.buffer].shape);
      dev += Math.ceil(n / align) * align;
      host += n;
    }
    this.arenaElems = Math.max(dev, 1);
    const make = (bytes: number) => deviceBuffer(device, bytes);
    // An inference program has no gradients and no optimizer state: those arenas are stubs.
    const optElems = program.inference ? 4 : this.arenaElems;
    if (owner) {
      this.paramArena = owner.paramArena;
      this.mem = owner.mem;
      this.arenas = owner.arenas;
    } else {
      this.paramArena = new Float32Array(host);
      this.mem = { m: new Float32Array(program.inference ? 0 : host), v: new Float32Array(program.inference ? 0 : host) };
      const arena = (n: number) => make(4 * n);
      this.arenas = { params: arena(this.arenaElems), grads: arena(optElems), acc: arena(optElems), m: arena(optElems), v: arena(optElems), decay: arena(optElems), clip: make(8) };
      const decay = new Float32Array(optElems);
      if (!program.inference) program.params.forEach((p, k) => p.decay && decay.fill(1, this.deviceOffsets[k], this.deviceOffsets[k] + count(program.buffers[p.buffer].shape)));
      device.queue.writeBuffer(this.arenas.decay, 0, decay);
    }

    // Every program buffer as a region: parameters and gradients in their arenas, planned
    // intermediates in their memory-plan slot, the rest in buffers of their own. An
    // executor for other dims (withDims) binds the owner's regions.
    const slots = owner ? [] : program.memory.slots.map((s) => make(4 * count(s.shape)));
    this.regions = owner ? owner.regions : program.buffers.map((b) => {
      const bytes = 4 * count(b.shape);
      const size = Math.max(4, bytes);
      const at = storageOf(program, b.id);
      if (at.kind === 'param') return { buffer: this.arenas.params, offset: 4 * this.deviceOffsets[at.k], size };
      if (at.kind === 'grad') return { buffer: this.arenas.grads, offset: 4 * this.deviceOffsets[at.k], size };
      if (at.kind === 'slot') return { buffer: slots[at.slot], offset: 0, size };
      return { buffer: make(bytes), offset: 0, size };
    });
    for (const inp of program.inputs) {
      const b = program.buffers[inp.buffer];
      const n = count(b.shape);
      this.inputs.set(inp.name, { host: b.dtype === 'i32' ? new Int32Array(n) : new Float32Array(n), region: this.regions[inp.buffer] });
    }

    const call = (name: string, regions: Region[], at: Record<string, number> = dims, index = -1, floats?: number[]): Call => {
      const k = kernels.get(name);
      if (!k) throw new Error(`kernels.wgsl has no kernel ${name}: regenerate it`);
      const d = k.dispatch;
      // Bound in whole 16-byte units, which every region has room for (arena regions start
      // at the storage-offset alignment, other buffers are sized in 16 bytes).
      const copies: TextureCopy[] = [];
      const entries: GPUBindGroupEntry[] = regions.map((r, n) => {
        if (!d.buffers[n].texture) return { binding: n, resource: { buffer: r.buffer, offset: r.offset, size: whole16(r.size) } };
        // One texture for each region read so (a weight read by the forward and the backward
        // pass: one texture, copied once while the weight is unchanged).
        const n4 = floats?.[n] ?? r.size / 4;
        const key = `${r.offset}:${n4}`;
        const mine = this.textures.get(r.buffer) ?? new Map<string, TextureCopy>();
        this.textures.set(r.buffer, mine);
        const copy = mine.get(key) ?? bufferTexture(device, `${name}.${d.buffers[n].name}`, r.buffer, r.offset, n4);
        mine.set(key, copy);
        copies.push(copy);
        return { binding: n, resource: copy.texture.createView({ dimension: '2d-array' }) };
      });
      checkAliasing(name, regions, d.buffers.map((b) => b.access !== 'read'));
      const u = kernelUniform(device, k, at);
      if (u) entries.push({ binding: regions.length, resource: { buffer: u.buffer } });
      const uniform = u && { ...u, dims: d.dims.length };
      const p = pipelines.get(name)!;
      const groups = workgroupCounts(device, k, at);
      return { name, index, phases: p.pipelines.map((pipeline, n) => ({ pipeline, groups: groups[n] })), bindGroup: device.createBindGroup({ label: name, layout: p.layout, entries }), uniform, copies, writes: regions.filter((_, n) => d.buffers[n].access !== 'read').map((r) => r.buffer) };
    };
    this.calls = program.steps.map((s, index) => call(s.kernel, s.args.map((id) => this.regions[id]), dims, index, s.args.map((id) => count(program.buffers[id].shape))));
    const whole = (b: GPUBuffer) => this.whole(b);
    const a = this.arenas;
    const clip = this.clip();
    const o = program.optimizer;
    // The optimizer kernels run over the whole arenas: n elements, gaps included.
    const n = { n: this.arenaElems };
    const at = program.steps.length;
    this.optCalls = program.inference ? undefined : {
      gradNorm: call(o.gradNorm, [whole(a.grads), clip], n, at + OPT.gradNorm),
      adamw: call(o.adamw, [whole(a.params), whole(a.grads), whole(a.m), whole(a.v), whole(a.decay), clip], n, at + OPT.adamw),
      gradNormAcc: call(o.gradNorm, [whole(a.acc), clip], n, at + OPT.gradNormAcc),
      adamwAcc: call(o.adamw, [whole(a.params), whole(a.acc), whole(a.m), whole(a.v), whole(a.decay), clip], n, at + OPT.adamwAcc),
      accumulate: call(o.accumulate, [whole(a.acc), whole(a.grads)], n, at + OPT.accumulate),
    };
    this.forwardSteps = program.steps.flatMap((s, k) => (s.phase === 'forward' ? [k] : []));
    this.backwardSteps = program.steps.flatMap((s, k) => (s.phase === 'backward' ? [k] : []));
  }

  /** An executor of a program whose WGSL kernels are `wgsl` (the text of kernels.wgsl). Every
   *  shader is compiled first; a compilation error or warning is TFM7002. */
  static async create(program: Program, wgsl: string, dims: Record<string, number>, opts: { gpu?: GpuContext } = {}): Promise<GpuExecutor> {
    const gpu = opts.gpu ?? (await gpuContext());
    const kernels = parseWgsl(wgsl);
    const used = new Set([...program.steps.map((s) => s.kernel), ...Object.values(program.optimizer)]);
    const pipelines = new Map<string, KernelPipelines>();
    await Promise.all(
      [...used].map(async (name) => {
        const k = kernels.get(name);
        if (!k) throw new TfmError('TFM7002', `kernels.wgsl has no kernel \`${name}\` that program.json calls: regenerate it`);
        pipelines.set(name, await kernelPipelines(gpu.device, k));
      }),
    );
    gpu.device.pushErrorScope('out-of-memory');
    const ex = new GpuExecutor(program, dims, gpu, kernels, pipelines);
    const oom = await gpu.device.popErrorScope();
    if (oom) throw new TfmError('TFM7003', `the device ran out of memory allocating the model's buffers (${oom.message}): use a smaller batch`);
    return ex;
  }

  /** An executor of the same program over the same device buffers for other run-time dims,
   *  each no larger than this one's (every binding then fits): the decode program (seq 1)
   *  beside the prefill program, sharing the parameters and the key/value cache. Closing it
   *  frees nothing. */
  withDims(dims: Record<string, number>): GpuExecutor {
    for (const [k, n] of Object.entries(dims)) if (!(n <= (this.dims[k] ?? -1))) throw new Error(`dim ${k} = ${n} exceeds the allocated ${this.dims[k]}`);
    return new GpuExecutor(this.program, { ...this.dims, ...dims }, this.gpu, this.kernels, this.pipelines, this);
  }

  private get opt(): NonNullable<GpuExecutor['optCalls']> {
    if (!this.optCalls) throw new Error('an inference program has no optimizer');
    return this.optCalls;
  }

  param(name: string): Float32Array {
    const k = this.program.params.findIndex((p) => p.name === name);
    if (k < 0) throw new Error(`program has no parameter ${name}`);
    return this.paramSlice(this.paramArena, k);
  }

  /** Sends the host parameters and Adam moments to the device. */
  push(): void {
    this.pack(this.paramArena, this.arenas.params);
    if (!this.program.inference) {
      this.pack(this.mem.m, this.arenas.m);
      this.pack(this.mem.v, this.arenas.v);
    }
    this.hostCurrent = true;
  }

  /** Brings the device parameters and Adam moments to the host, unless they are there
   *  already (the training loop pulls before validating, checking and checkpointing alike). */
  async pull(): Promise<void> {
    if (this.hostCurrent) return;
    this.unpack(await this.readRegion(this.whole(this.arenas.params)), this.paramArena);
    if (!this.program.inference) {
      this.unpack(await this.readRegion(this.whole(this.arenas.m)), this.mem.m);
      this.unpack(await this.readRegion(this.whole(this.arenas.v)), this.mem.v);
    }
    this.hostCurrent = true;
  }

  /** Writes gradients (host layout) to the device, as if the backward pass had computed them. */
  writeGrads(host: Float32Array): void {
    this.pack(host, this.arenas.grads);
  }

  /** The host array of an input (sent to the device with the next forward pass). */
  input(name: string): Float32Array | Int32Array {
    const b = this.inputs.get(name);
    if (!b) throw new Error(`program has no input ${name}`);
    return b.host;
  }

  setInput(name: string, data: ArrayLike<number>): void {
    this.input(name).set(data);
  }

  hasInput(name: string): boolean {
    return this.program.inputs.some((i) => i.name === name);
  }

  /** An output (`loss`, `logits`, `grad:<param>`) as it is now on the device. */
  async read(name: string): Promise<Float32Array | Int32Array> {
    const id = this.program.outputs[name];
    if (id === undefined) throw new Error(`program has no output ${name}`);
    const bytes = await this.readRegion(this.regions[id]);
    const n = numel(this.program.buffers[id].shape, this.dims);
    return this.program.buffers[id].dtype === 'i32' ? new Int32Array(bytes, 0, n) : new Float32Array(bytes, 0, n);
  }

  write(name: string, data: Float32Array | Int32Array): void {
    const id = this.program.outputs[name];
    if (id === undefined) throw new Error(`program has no output ${name}`);
    const r = this.regions[id];
    if (data.byteLength > r.size) throw new Error(`${name}: ${data.byteLength} bytes do not fit its ${r.size}`);
    this.gpu.device.queue.writeBuffer(r.buffer, r.offset, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    wrote(r.buffer);
  }

  /** Runs the forward pass and the loss; returns the loss. */
  async forward(): Promise<number> {
    this.sendInputs();
    this.submit(this.forwardSteps.map((k) => this.calls[k]));
    if (!('loss' in this.program.outputs)) {
      // An inference program has no loss.
      await this.settled();
      return NaN;
    }
    return (await this.read('loss'))[0];
  }

  /** Runs the backward pass (after `forward`), filling every gradient. */
  async backward(): Promise<void> {
    this.submit(this.backwardSteps.map((k) => this.calls[k]));
    await this.settled();
  }

  /** The global gradient norm of the current (or accumulated) gradients, and the clip factor
   *  the next update will use. */
  async gradientNorm(maxNorm: number, accumulated = false): Promise<number> {
    const norm = accumulated ? this.opt.gradNormAcc : this.opt.gradNorm;
    this.setScalars(norm, [maxNorm]);
    this.submit([norm]);
    return new Float32Array(await this.readRegion(this.clip()))[1];
  }

  /** The AdamW update from the gradients whose norm `gradientNorm` just took. */
  applyUpdate(s: AdamWSettings, accumulated = false): void {
    this.submit([this.adamwCall(s, accumulated)]);
  }

  /** One AdamW step over all parameters from the current (or accumulated) gradients; returns
   *  the global gradient norm before clipping. */
  async optimizerStep(s: AdamWSettings, opts: { accumulated?: boolean } = {}): Promise<number> {
    const norm = await this.gradientNorm(s.maxNorm, opts.accumulated);
    this.applyUpdate(s, opts.accumulated);
    return norm;
  }

  /** One training step over micro-batches, as the CPU executor's: each `load(k)` sets the
   *  inputs of micro-batch k (with setInput); gradients are averaged; returns the mean loss
   *  and the gradient norm. One command buffer per micro-batch; the losses are gathered on
   *  the device and read back once, with the norm. */
  async trainStep(micro: number, load: (k: number) => void, s: AdamWSettings): Promise<{ loss: number; gradNorm: number }> {
    const device = this.gpu.device;
    const losses = deviceBuffer(device, 4 * (micro + 2));
    const loss = this.regions[this.program.outputs.loss];
    for (let k = 0; k < micro; k++) {
      load(k);
      this.sendInputs();
      const calls = [...this.forwardSteps, ...this.backwardSteps].map((n) => this.calls[n]);
      if (micro > 1) {
        this.setScalars(this.opt.accumulate, [1 / micro, k === 0 ? 1 : 0]);
        calls.push(this.opt.accumulate);
      }
      this.submit(calls, (enc) => enc.copyBufferToBuffer(loss.buffer, loss.offset, losses, 4 * k, 4));
    }
    const norm = micro > 1 ? this.opt.gradNormAcc : this.opt.gradNorm;
    this.setScalars(norm, [s.maxNorm]);
    this.submit([norm, this.adamwCall(s, micro > 1)], (enc) => enc.copyBufferToBuffer(this.arenas.clip, 0, losses, 4 * micro, 8));
    const got = new Float32Array(await this.readRegion({ buffer: losses, offset: 0, size: 4 * (micro + 2) }));
    losses.destroy();
    let mean = 0;
    for (let k = 0; k < micro; k++) mean += got[k] / micro;
    return { loss: mean, gradNorm: got[micro + 1] };
  }

  /** Frees the device buffers (the device itself is shared by the process). */
  close(): void {
    // The textures are this executor's own, even when its buffers are borrowed.
    for (const byRegion of this.textures.values()) for (const t of byRegion.values()) t.texture.destroy();
    if (this.borrowed) return;
    for (const b of new Set([...this.regions.map((r) => r.buffer), ...Object.values(this.arenas)])) b.destroy();
  }

  private adamwCall(s: AdamWSettings, accumulated: boolean): Call {
    this.steps++;
    this.hostCurrent = false;
    const adamw = accumulated ? this.opt.adamwAcc : this.opt.adamw;
    this.setScalars(adamw, [s.lr, s.beta1, s.beta2, s.eps, s.weightDecay, this.steps]);
    return adamw;
  }

  private sendInputs(): void {
    for (const { host, region } of this.inputs.values()) {
      this.gpu.device.queue.writeBuffer(region.buffer, region.offset, host.buffer as ArrayBuffer, host.byteOffset, host.byteLength);
      wrote(region.buffer);
    }
  }

  /** The whole of an arena (the optimizer's binding: every parameter and the gaps). */
  private whole(buffer: GPUBuffer): Region {
    return { buffer, offset: 0, size: 4 * this.arenaElems };
  }

  /** The clip factor and the gradient norm. */
  private clip(): Region {
    return { buffer: this.arenas.clip, offset: 0, size: 8 };
  }

  /** Refuses to go on once the device is lost (TFM7003). */
  private alive(): void {
    if (this.lost) throw new TfmError('TFM7003', `the GPU device was lost (${this.lost})`);
  }

  private pack(host: Float32Array, arena: GPUBuffer): void {
    this.program.params.forEach((_, k) => {
      const h = this.paramSlice(host, k).slice();
      this.gpu.device.queue.writeBuffer(arena, 4 * this.deviceOffsets[k], h.buffer, 0, h.byteLength);
    });
    wrote(arena);
  }

  private setScalars(c: Call, scalars: number[]): void {
    const u = c.uniform!;
    new Float32Array(u.data).set(scalars, u.dims);
    this.gpu.device.queue.writeBuffer(u.buffer, 0, u.data);
  }

  private submit(calls: Call[], after?: (enc: GPUCommandEncoder) => void): void {
    this.alive();
    const device = this.gpu.device;
    const enc = device.createCommandEncoder();
    const profile = this.onKernel && this.gpu.timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 * calls.length }) : undefined;
    const encode = (pass: GPUComputePassEncoder, c: Call) => {
      encodeCall(pass, c.bindGroup, c.phases);
      for (const b of c.writes) wrote(b);
    };
    if (profile) {
      // One pass per call, its start and end time-stamped (its texture copies before it).
      calls.forEach((c, n) => {
        encodeCopies(enc, c.copies);
        const pass = enc.beginComputePass({ timestampWrites: { querySet: profile, beginningOfPassWriteIndex: 2 * n, endOfPassWriteIndex: 2 * n + 1 } });
        encode(pass, c);
        pass.end();
      });
    } else {
      // One pass, broken where a call's texture copies must come between dispatches.
      let pass: GPUComputePassEncoder | undefined;
      for (const c of calls) {
        if (c.copies.length) {
          pass?.end();
          pass = undefined;
          encodeCopies(enc, c.copies);
        }
        pass ??= enc.beginComputePass();
        encode(pass, c);
      }
      pass?.end();
    }
    after?.(enc);
    let times: GPUBuffer | undefined;
    if (profile) {
      const resolved = device.createBuffer({ size: 16 * calls.length, usage: 0x200 | 0x04 }); // QUERY_RESOLVE | COPY_SRC
      times = device.createBuffer({ size: 16 * calls.length, usage: READBACK });
      enc.resolveQuerySet(profile, 0, 2 * calls.length, resolved, 0);
      enc.copyBufferToBuffer(resolved, 0, times, 0, 16 * calls.length);
    }
    device.queue.submit([enc.finish()]);
    if (times) {
      const [buf, report] = [times, this.onKernel!];
      this.profiling.push(
        buf.mapAsync(1).then(() => {
          const ns = new BigUint64Array(buf.getMappedRange());
          calls.forEach((c, n) => report(c.index, Number(ns[2 * n + 1] - ns[2 * n]) / 1e6));
          buf.unmap();
          buf.destroy();
          profile!.destroy();
        }),
      );
    }
  }

  /** Waits for the timestamps of profiled submissions and reports them. */
  private async reported(): Promise<void> {
    const pending = this.profiling;
    this.profiling = [];
    await Promise.all(pending);
  }

  private async settled(): Promise<void> {
    await this.gpu.device.queue.onSubmittedWorkDone();
    await this.reported();
    this.alive();
  }

  private async readRegion(r: Region): Promise<ArrayBuffer> {
    const device = this.gpu.device;
    const size = Math.ceil(r.size / 4) * 4;
    const staging = device.createBuffer({ size, usage: READBACK });
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(r.buffer, r.offset, staging, 0, size);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(1 /* GPUMapMode.READ */);
    const out = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    await this.reported();
    this.alive();
    return out;
  }

  private paramSlice(host: Float32Array, k: number): Float32Array {
    const next = k + 1 < this.hostOffsets.length ? this.hostOffsets[k + 1] : host.length;
    return host.subarray(this.hostOffsets[k], next);
  }

  private unpack(device: ArrayBuffer, host: Float32Array): void {
    const d = new Float32Array(device);
    this.program.params.forEach((_, k) => {
      const h = this.paramSlice(host, k);
      h.set(d.subarray(this.deviceOffsets[k], this.deviceOffsets[k] + h.length));
    });
  }
}

/** WebGPU forbids a dispatch to bind overlapping ranges of one buffer when one of them is
 *  writable; the memory plan never should. */
function checkAliasing(kernel: string, regions: Region[], writable: boolean[]): void {
  for (let a = 0; a < regions.length; a++) {
    for (let b = a + 1; b < regions.length; b++) {
      const [x, y] = [regions[a], regions[b]];
      if (x.buffer !== y.buffer || !(writable[a] || writable[b])) continue;
      if (x.offset < y.offset + y.size && y.offset < x.offset + x.size) throw new Error(`internal: kernel ${kernel} binds overlapping memory to buffers ${a} and ${b}, one of them written`);
    }
  }
}
