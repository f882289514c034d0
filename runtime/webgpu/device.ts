// The WebGPU device: in a browser, navigator.gpu; in Node, Dawn through the npm package
// `webgpu` (imported only when a device is asked for, so that a browser bundle never needs
// it). On a machine without a GPU, Mesa's lavapipe Vulkan driver gives Dawn a CPU adapter
// (`scripts/setup-webgpu.sh` installs it).
import { TfmError } from '../../common/errors.ts';

/** The GPU object Dawn's create() returns. It must stay reachable for as long as any device
 *  lives: when it is garbage-collected under a live device, Node dies natively. */
let nodeGpu: GPU | undefined;
let shared: Promise<GpuContext> | undefined;

export interface GpuContext {
  device: GPUDevice;
  /** The adapter's description (`llvmpipe` is lavapipe, a CPU in disguise). */
  adapter: string;
  /** Whether the adapter is a CPU rasterizer (lavapipe, SwiftShader): not a speed reference. */
  software: boolean;
  timestamps: boolean;
}

async function gpuApi(): Promise<GPU | undefined> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (typeof process === 'undefined' || !process.versions?.node) return undefined;
  if (!nodeGpu) {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    nodeGpu = create([]);
  }
  return nodeGpu;
}

/** Why no adapter is available, in one line (undefined when one is). */
export async function gpuUnavailable(): Promise<string | undefined> {
  try {
    const gpu = await gpuApi();
    if (!gpu) return 'this JavaScript runtime has no WebGPU';
    const adapter = await gpu.requestAdapter();
    return adapter ? undefined : 'WebGPU found no adapter (no GPU, and no CPU Vulkan driver such as lavapipe)';
  } catch (e) {
    return `WebGPU could not start: ${(e as Error).message}`;
  }
}

/** One device for the process (created on first use). */
export function gpuContext(): Promise<GpuContext> {
  shared ??= newGpuContext();
  return shared;
}

/** A device of its own, with the adapter's own limits on storage buffers and workgroup
 *  memory rather than WebGPU's defaults. */
export async function newGpuContext(): Promise<GpuContext> {
  return (async () => {
    const gpu = await gpuApi();
    const adapter = gpu && (await gpu.requestAdapter({ powerPreference: 'high-performance' }));
    if (!adapter) throw new TfmError('TFM7001', `no WebGPU adapter: ${(await gpuUnavailable()) ?? 'requestAdapter() returned null'}`);
    const lim = adapter.limits;
    const timestamps = adapter.features.has('timestamp-query');
    const device = await adapter.requestDevice({
      requiredFeatures: timestamps ? ['timestamp-query'] : [],
      requiredLimits: {
        maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
        maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
        maxBufferSize: lim.maxBufferSize,
        maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
      },
    });
    const info = adapter.info;
    const name = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
    return { device, adapter: name, software: /llvmpipe|lavapipe|swiftshader/i.test(name), timestamps };
  })();
}
