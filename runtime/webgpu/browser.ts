// What a web page gets from tfm: the WebGPU executor and the device, and nothing that needs
// Node. `tfm compile --target webgpu --bundle` bundles this (with a compiled model's program
// and WGSL) into one ES module; `tfm serve` serves such a module to its demo page.
export { GpuExecutor } from './executor.ts';
export { gpuContext, gpuUnavailable } from './device.ts';
