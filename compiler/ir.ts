// The tensor graph IR: SSA values with symbolic shapes and dtypes, produced by nodes that
// carry the spec span they came from. One IR for every layout and target: lowering builds
// it, autodiff extends it with the backward pass, passes rewrite it, codegen consumes it.
import type { DType, IrShape, SymDim } from '../common/program.ts';
import type { Span } from '../common/source.ts';

// Shapes and dtypes are part of the program schema, shared with the runtime.
export { numel, resolveShape, sameShape, type DType, type IrShape, type SymDim } from '../common/program.ts';

export interface Value {
  id: number;
  shape: IrShape;
  dtype: DType;
  /** Producing node; undefined for graph inputs and parameters. */
  node?: Node;
  /** Readable name for printing (parameters and inputs have stable names). */
  name?: string;
}

export type AttrValue = number | string | boolean | number[] | SymDim[] | null;

export interface Node {
  id: number;
  op: string;
  inputs: Value[];
  outputs: Value[];
  attrs: Record<string, AttrValue>;
  span?: Span;
}

export type ParamInit = { kind: 'normal'; std: number } | { kind: 'zeros' } | { kind: 'ones' };

export interface Param {
  name: string;
  value: Value;
  init: ParamInit;
  /** Excluded from weight decay by default: biases, norms, embeddings. */
  decay: boolean;
}

export interface Input {
  name: string;
  value: Value;
}

export class Graph {
  readonly params: Param[] = [];
  readonly inputs: Input[] = [];
  readonly nodes: Node[] = [];
  readonly outputs = new Map<string, Value>();
  private nextValue = 0;
  private nextNode = 0;

  constructor(readonly name: string) {}

  value(shape: IrShape, dtype: DType = 'f32', name?: string): Value {
    return { id: this.nextValue++, shape, dtype, name };
  }

  param(name: string, shape: IrShape, init: ParamInit, decay: boolean): Value {
    if (this.params.some((p) => p.name === name)) throw new Error(`internal: duplicate parameter ${name}`);
    const v = this.value(shape, 'f32', name);
    this.params.push({ name, value: v, init, decay });
    return v;
  }

  input(name: string, shape: IrShape, dtype: DType): Value {
    const existing = this.inputs.find((i) => i.name === name);
    if (existing) return existing.value;
    const v = this.value(shape, dtype, name);
    this.inputs.push({ name, value: v });
    return v;
  }

  /** Appends a node whose output shapes are given; returns its outputs. */
  add(op: string, inputs: Value[], outShapes: { shape: IrShape; dtype?: DType }[], attrs: Record<string, AttrValue> = {}, span?: Span): Value[] {
    const node: Node = { id: this.nextNode++, op, inputs, outputs: [], attrs, span };
    node.outputs = outShapes.map((o) => ({ ...this.value(o.shape, o.dtype ?? 'f32'), node }));
    this.nodes.push(node);
    return node.outputs;
  }

  paramByName(name: string): Param | undefined {
    return this.params.find((p) => p.name === name);
  }
}

export function shapeKey(s: IrShape): string {
  return `[${s.join(', ')}]`;
}

