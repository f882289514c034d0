// The WebGPU target's file format, shared by the compiler that writes it and the runtime that
// reads it: kernels.wgsl holds a prelude of helper functions, then one section per kernel,
// each starting with a marker line
//
//     // ==== kernel <name> {"buffers": …, "phases": [{"entry": "main", "mode": "grid", "invocations": ["*", "batch", 16], …}]}
//
// whose JSON (WgslDispatch) says how to bind and dispatch it. A kernel's shader module is the
// prelude followed by its section.
import { numel, storageOf, type DType, type Program } from './program.ts';

export const KERNEL_MARKER = '// ==== kernel ';
export const PRELUDE_MARKER = '// ==== prelude';

/** An integer expression over run-time dims that sizes a dispatch: a constant, a dim's name,
 *  or an operation on two of them (idiv truncates, as i32 division does in the kernels). */
export type HostExpr = number | string | ['+' | '-' | '*' | 'idiv' | 'max' | 'min', HostExpr, HostExpr];

/** One dispatch of a kernel: the entry point it runs and how many invocations. */
export interface WgslPhase {
  entry: string;
  /** grid: one invocation per point of a parallel loop nest; tree: one workgroup that
   *  reduces cooperatively; single: one invocation. */
  mode: 'grid' | 'tree' | 'single';
  /** How many invocations to run. */
  invocations: HostExpr;
  /** Invocations per workgroup (the entry point's @workgroup_size). */
  workgroup: number;
}

/** The shape of the texture a buffer is read through (WgslDispatch `texture`): its floats,
 *  four to an rgba32float texel, fill rows of TEXTURE_WIDTH texels, TEXTURE_ROWS rows to a
 *  layer of a texture_2d_array, in order; texel t is at (t % TEXTURE_WIDTH, (t / TEXTURE_WIDTH)
 *  % TEXTURE_ROWS) of layer t / (TEXTURE_WIDTH · TEXTURE_ROWS). Powers of two (the shader
 *  splits a texel index with masks and shifts), within WebGPU's default limits (8,192 texels
 *  a side, 256 layers): a layer holds 64 M floats, a texture 16 G — more than any storage
 *  binding, so that a buffer a kernel could bind it can also read through a texture. */
export const TEXTURE_WIDTH = 2048;
export const TEXTURE_ROWS = 8192;

/** The extent [texels a row, rows, layers] of the texture that holds `floats` floats laid out
 *  as TEXTURE_WIDTH / TEXTURE_ROWS say (`layout`: other than the shaders' only in tests):
 *  whole rows, and whole layers once there is more than one. */
export function textureExtent(floats: number, layout = { width: TEXTURE_WIDTH, rows: TEXTURE_ROWS }): [number, number, number] {
  const rows = Math.ceil(Math.max(1, Math.ceil(floats / 4)) / layout.width);
  return [layout.width, Math.min(rows, layout.rows), Math.ceil(rows / layout.rows)];
}

/** Bytes of the textures a WebGPU executor of `program` allocates at `dims`, beside its
 *  buffers: one rgba32float texture per region some kernel reads through one (a parameter,
 *  a gradient, a memory-plan slot holding a buffer of a given size, or a buffer of its own:
 *  `storageOf`), as runtime/webgpu/executor.ts keys them. */
export function textureBytes(program: Program, dispatches: Map<string, WgslDispatch>, dims: Record<string, number>): number {
  const seen = new Map<string, number>();
  for (const s of program.steps) {
    const d = dispatches.get(s.kernel);
    if (!d) continue;
    s.args.forEach((id, n) => {
      if (!d.buffers[n]?.texture) return;
      const floats = numel(program.buffers[id].shape, dims);
      // The executor keys a texture by its region and float count: a parameter's or a
      // gradient's region is one size; a slot's region differs by the buffer's size.
      const at = storageOf(program, id);
      const key = at.kind === 'param' ? `p${at.k}` : at.kind === 'grad' ? `g${at.k}` : at.kind === 'slot' ? `s${at.slot}:${floats}` : `b${id}`;
      const [w, h, l] = textureExtent(floats);
      seen.set(key, w * h * l * 16);
    });
  }
  return [...seen.values()].reduce((a, b) => a + b, 0);
}

export interface WgslDispatch {
  /** Binding k is buffer k; after them, when there are any dims or scalars, a uniform of the
   *  dims (i32, in order) then the scalars (f32, in order), 4 bytes each. A buffer with
   *  `texture` is bound as a texture_2d_array<f32> (rgba32float, TEXTURE_WIDTH) that
   *  the runtime fills from the buffer before each call. */
  buffers: { name: string; t: DType; access: 'read' | 'write' | 'readwrite'; texture?: true }[];
  dims: string[];
  scalars: string[];
  /** The dispatches of one call, in order (each sees what the previous ones wrote). */
  phases: WgslPhase[];
}

export function evalHostExpr(e: HostExpr, dims: Record<string, number>): number {
  if (typeof e === 'number') return e;
  if (typeof e === 'string') {
    const v = dims[e];
    if (v === undefined) throw new Error(`run-time dim \`${e}\` has no value`);
    return v;
  }
  const [op, a, b] = [e[0], evalHostExpr(e[1], dims), evalHostExpr(e[2], dims)];
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case 'idiv':
      return Math.trunc(a / b);
    case 'max':
      return Math.max(a, b);
    case 'min':
      return Math.min(a, b);
  }
}

export interface WgslKernel {
  name: string;
  /** The whole shader module: the prelude, then the kernel's section. */
  code: string;
  dispatch: WgslDispatch;
}

/** The kernels of a kernels.wgsl file, by name. */
export function parseWgsl(text: string): Map<string, WgslKernel> {
  const sections = text.split(`\n${KERNEL_MARKER}`);
  const head = sections[0];
  const at = head.indexOf(PRELUDE_MARKER);
  if (at < 0) throw new Error('kernels.wgsl has no prelude marker: regenerate it');
  const prelude = head.slice(at);
  const out = new Map<string, WgslKernel>();
  for (const s of sections.slice(1)) {
    const eol = s.indexOf('\n');
    const space = s.indexOf(' ');
    if (eol < 0 || space < 0 || space > eol) throw new Error('kernels.wgsl has a malformed kernel marker: regenerate it');
    const name = s.slice(0, space);
    const dispatch = JSON.parse(s.slice(space + 1, eol)) as WgslDispatch;
    out.set(name, { name, code: `${prelude}\n${s.slice(eol + 1)}`, dispatch });
  }
  return out;
}
