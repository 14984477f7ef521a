/**
 * The symbolic tensor graph. A `Graph` records ONNX nodes as a model is written; `Tensor`s are its
 * edges, carrying dtype and shape (static numbers or named dynamic dims such as 'batch'). The fluent
 * methods on `Tensor` delegate to `ops.ts`, so a model reads like array code: `x.matmul(w).add(b).relu()`.
 */
import { GenrecError } from './errors.js';
import type { AttrValue, Dim } from './onnx-proto.js';
import * as ops from './ops.js';

export type { Dim } from './onnx-proto.js';
export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint32' | 'uint8' | 'bool';
export type Shape = readonly Dim[];

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float64';
}

export interface Node {
  readonly op: string;
  readonly domain?: string;
  readonly inputs: readonly (Tensor | null)[];
  readonly outputs: Tensor[];
  readonly attrs: Record<string, AttrValue>;
}

export type TypedData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint32Array | Uint8Array;

export class Tensor {
  /** Set when this tensor is a graph input (data, parameter, optimizer state). */
  inputName?: string;
  /** Set when this tensor is a constant (becomes an ONNX initializer). */
  constData?: TypedData;
  /** Blocks gradient flow through this tensor (see `stopGradient`). */
  noGrad = false;

  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly dtype: DType,
    readonly shape: Shape,
    readonly producer: Node | null = null,
  ) {}

  get name(): string {
    return this.inputName ?? `t${this.id}`;
  }
  get rank(): number {
    return this.shape.length;
  }
  /** Static number of elements, or null when a dim is dynamic. */
  get size(): number | null {
    let n = 1;
    for (const d of this.shape) {
      if (typeof d !== 'number') return null;
      n *= d;
    }
    return n;
  }
  dim(axis: number): Dim {
    return this.shape[axis < 0 ? this.shape.length + axis : axis]!;
  }

  add(o: Tensor | number) { return ops.add(this, o); }
  sub(o: Tensor | number) { return ops.sub(this, o); }
  mul(o: Tensor | number) { return ops.mul(this, o); }
  div(o: Tensor | number) { return ops.div(this, o); }
  pow(p: number) { return ops.pow(this, p); }
  matmul(o: Tensor) { return ops.matmul(this, o); }
  neg() { return ops.neg(this); }
  exp() { return ops.exp(this); }
  log() { return ops.log(this); }
  sqrt() { return ops.sqrt(this); }
  rsqrt() { return ops.rsqrt(this); }
  abs() { return ops.abs(this); }
  relu() { return ops.relu(this); }
  gelu() { return ops.gelu(this); }
  silu() { return ops.silu(this); }
  sigmoid() { return ops.sigmoid(this); }
  tanh() { return ops.tanh(this); }
  softmax(axis = -1) { return ops.softmax(this, axis); }
  logSoftmax(axis = -1) { return ops.logSoftmax(this, axis); }
  sum(axes?: number | number[], keepdims = false) { return ops.sum(this, axes, keepdims); }
  mean(axes?: number | number[], keepdims = false) { return ops.mean(this, axes, keepdims); }
  max(axes?: number | number[], keepdims = false) { return ops.max(this, axes, keepdims); }
  reshape(shape: readonly Dim[]) { return ops.reshape(this, shape); }
  transpose(perm?: readonly number[]) { return ops.transpose(this, perm); }
  slice(axis: number, start: number, end: number) { return ops.slice(this, axis, start, end); }
  cast(to: DType) { return ops.cast(this, to); }
  stopGradient() { return ops.stopGradient(this); }
}

/** A graph under construction. Parameters are bound to graph inputs on first use (`param`). */
export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  private nextId = 0;
  private readonly scalars = new Map<string, Tensor>();
  private readonly boundParams = new Map<object, Tensor>();
  private readonly inputNames = new Set<string>();
  /**
   * The graph will run on a session with one intra-op thread (set by its builder before ops are added).
   * Ops may then use kernels that are exact only on one thread: ORT's ScatterND adds without atomics when
   * it splits the indices among threads (see `scatterAdd`).
   */
  oneThread = false;

  /**
   * @param name graph name (shows in the ONNX file)
   * @param embedWeights parameters become constants (export) instead of inputs (training)
   * @param training enables dropout and other train-only behaviour
   */
  constructor(readonly name = 'genrec', readonly embedWeights = false, readonly training = false) {}

  newTensor(dtype: DType, shape: Shape, producer: Node | null = null): Tensor {
    return new Tensor(this, this.nextId++, dtype, shape, producer);
  }

  /** A named graph input (fed at run time). */
  input(name: string, dtype: DType, shape: Shape): Tensor {
    if (this.inputNames.has(name)) {
      throw new GenrecError('GENREC_E_GRAPH', `graph '${this.name}' already has an input named '${name}'`, 'give every input a unique name');
    }
    this.inputNames.add(name);
    const t = this.newTensor(dtype, shape);
    t.inputName = name;
    this.inputs.push(t);
    return t;
  }

  /** Bind an object (a Parameter) to a graph input once; later calls return the same tensor. */
  bind(key: object, make: () => Tensor): Tensor {
    let t = this.boundParams.get(key);
    if (!t) {
      t = make();
      this.boundParams.set(key, t);
    }
    return t;
  }
  bound(key: object): Tensor | undefined {
    return this.boundParams.get(key);
  }

  constant(data: TypedData, shape: Shape, dtype: DType): Tensor {
    const t = this.newTensor(dtype, shape);
    t.constData = data;
    t.noGrad = true;
    return t;
  }

  /** A scalar constant (rank 0), cached per value and dtype. */
  scalar(v: number, dtype: DType = 'float32'): Tensor {
    const key = `${dtype}:${Object.is(v, -0) ? '-0' : v}`;
    let t = this.scalars.get(key);
    if (!t) {
      t = this.constant(makeTyped(dtype, [v]), [], dtype);
      this.scalars.set(key, t);
    }
    return t;
  }

  /** An int64 1-D constant, for shapes, axes and indices inputs. */
  ints(values: readonly number[]): Tensor {
    return this.constant(BigInt64Array.from(values.map((v) => BigInt(v))), [values.length], 'int64');
  }

  /** Append a node; `outs` gives each output's dtype and shape. */
  node(op: string, inputs: readonly (Tensor | null)[], outs: ReadonlyArray<readonly [DType, Shape]>, attrs: Record<string, AttrValue> = {}, domain?: string): Tensor[] {
    for (const i of inputs) {
      if (i && i.graph !== this) throw new GenrecError('GENREC_E_GRAPH', `${op}: input tensor belongs to another graph`, 'build each model inside one graph');
    }
    const node: Node = { op, inputs, outputs: [], attrs, ...(domain ? { domain } : {}) };
    for (const [dt, sh] of outs) node.outputs.push(this.newTensor(dt, sh, node));
    this.nodes.push(node);
    return node.outputs;
  }
}

export function makeTyped(dtype: DType, values: readonly number[]): TypedData {
  switch (dtype) {
    case 'float32': return Float32Array.from(values);
    case 'float64': return Float64Array.from(values);
    case 'int32': return Int32Array.from(values);
    case 'uint32': return Uint32Array.from(values);
    case 'int64': return BigInt64Array.from(values.map((v) => BigInt(v)));
    case 'uint8':
    case 'bool': return Uint8Array.from(values);
  }
}

export function formatShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

export function shapeError(op: string, message: string, a: Shape, b?: Shape): GenrecError {
  const shapes = b ? `${formatShape(a)} and ${formatShape(b)}` : formatShape(a);
  return new GenrecError('GENREC_E_SHAPE', `${op}: ${message}: ${shapes}`, 'check the shapes of the tensors passed to this op', {
    op,
    shapes: b ? [a, b] : [a],
  });
}
