// Whether this machine runs WebGPU (a GPU, or lavapipe from scripts/setup-webgpu.sh). Without
// an adapter the WebGPU tests skip, and one line says how to get one — except where
// TFM_REQUIRE_WEBGPU=1 (CI), where a missing adapter fails the run instead of hiding it.
import { gpuContext, gpuUnavailable, type GpuContext } from '../../runtime/webgpu/device.ts';

export const NO_WEBGPU = await gpuUnavailable();

if (NO_WEBGPU) {
  if (process.env.TFM_REQUIRE_WEBGPU === '1') throw new Error(`TFM_REQUIRE_WEBGPU=1 but ${NO_WEBGPU}`);
  console.warn(`WebGPU tests skipped: ${NO_WEBGPU}. To run them without a GPU: sudo scripts/setup-webgpu.sh (Mesa lavapipe).`);
}

export const gpu = (): Promise<GpuContext> => gpuContext();
