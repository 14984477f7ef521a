/**
 * Ops. A few primitives map one-to-one onto ONNX operators and have gradient rules in `autodiff.ts`;
 * everything else is composed from them (mean, rsqrt, silu, RMSNorm, dropout). A few composites define
 * their own backward (`customGrad`) because the composed one would make more passes over big tensors:
 * cross-entropy over a large vocabulary is the main case.
 */
import { GenrecError } from './errors.js';
import { Graph, Tensor, isFloat, makeTyped, shapeError, type DType, type Dim, type Shape } from './graph.js';
import type { AttrValue } from './onnx-proto.js';

type Operand = Tensor | number;

/** Marks `out` as computed from `inputs` with a hand-written backward; autodiff skips its inner nodes. */
export interface CustomGrad {
  inputs: Tensor[];
  backward: (g: Tensor) => (Tensor | null)[];
}
const customGrads = new WeakMap<Tensor, CustomGrad>();
export function customGrad(out: Tensor, inputs: Tensor[], backward: CustomGrad['backward']): Tensor {
  customGrads.set(out, { inputs, backward });
  return out;
}
export function getCustomGrad(t: Tensor): CustomGrad | undefined {
  return customGrads.get(t);
}

// ---------------------------------------------------------------------------------------------------
// Shape helpers

export function normAxis(axis: number, rank: number, op = 'op'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GenrecError('GENREC_E_SHAPE', `${op}: axis ${axis} out of range for rank ${rank}`, 'pass an axis within the tensor rank');
  return a;
}

export function broadcastShape(a: Shape, b: Shape, op: string): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)]!;
    const db = i < n - b.length ? 1 : b[i - (n - b.length)]!;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw shapeError(op, 'shapes do not broadcast', a, b);
  }
  return out;
}

function dimProduct(dims: readonly Dim[]): Dim {
  let num = 1;
  const syms: string[] = [];
  for (const d of dims) typeof d === 'number' ? (num *= d) : syms.push(d);
  if (syms.length === 0) return num;
  return num === 1 ? syms.join('*') : `${syms.join('*')}*${num}`;
}

function graphOf(...xs: Operand[]): Graph {
  for (const x of xs) if (x instanceof Tensor) return x.graph;
  throw new GenrecError('GENREC_E_GRAPH', 'an op needs at least one tensor operand', 'pass a tensor');
}

/** A JS number as a scalar constant of `like`'s dtype. */
function lift(x: Operand, like: DType, g: Graph): Tensor {
  return x instanceof Tensor ? x : g.scalar(x, like);
}

function dtypeOf(...xs: Operand[]): DType {
  for (const x of xs) if (x instanceof Tensor) return x.dtype;
  return 'float32';
}

function unary(op: string, x: Tensor, attrs: Record<string, AttrValue> = {}, dtype: DType = x.dtype): Tensor {
  return x.graph.node(op, [x], [[dtype, x.shape]], attrs)[0]!;
}

function binary(op: string, a: Operand, b: Operand, outType?: DType): Tensor {
  const g = graphOf(a, b);
  const dt = dtypeOf(a, b);
  const ta = lift(a, dt, g);
  const tb = lift(b, dt, g);
  if (ta.dtype !== tb.dtype) throw new GenrecError('GENREC_E_DTYPE', `${op}: dtypes differ: ${ta.dtype} and ${tb.dtype}`, 'cast one operand first');
  return g.node(op, [ta, tb], [[outType ?? dt, broadcastShape(ta.shape, tb.shape, op)]])[0]!;
}

// ---------------------------------------------------------------------------------------------------
// Element-wise primitives

export const add = (a: Operand, b: Operand) => binary('Add', a, b);
export const sub = (a: Operand, b: Operand) => binary('Sub', a, b);
export const mul = (a: Operand, b: Operand) => binary('Mul', a, b);
export const div = (a: Operand, b: Operand) => binary('Div', a, b);
export const equal = (a: Operand, b: Operand) => binary('Equal', a, b, 'bool');
export const greater = (a: Operand, b: Operand) => binary('Greater', a, b, 'bool');
export const less = (a: Operand, b: Operand) => binary('Less', a, b, 'bool');
export const greaterOrEqual = (a: Operand, b: Operand) => binary('GreaterOrEqual', a, b, 'bool');
export const maximum = (a: Operand, b: Operand) => binary('Max', a, b);
export const minimum = (a: Operand, b: Operand) => binary('Min', a, b);
export const bitwiseXor = (a: Operand, b: Operand) => binary('BitwiseXor', a, b);
export const shiftRight = (a: Tensor, bits: number) =>
  a.graph.node('BitShift', [a, a.graph.scalar(bits, a.dtype)], [[a.dtype, a.shape]], { direction: 'RIGHT' })[0]!;

export function pow(x: Tensor, p: number): Tensor {
  if (p === 1) return x;
  if (p === 2) return mul(x, x);
  return x.graph.node('Pow', [x, x.graph.scalar(p, x.dtype)], [[x.dtype, x.shape]])[0]!;
}
export const neg = (x: Tensor) => unary('Neg', x);
export const exp = (x: Tensor) => unary('Exp', x);
export const log = (x: Tensor) => unary('Log', x);
export const sqrt = (x: Tensor) => unary('Sqrt', x);
export const reciprocal = (x: Tensor) => unary('Reciprocal', x);
export const rsqrt = (x: Tensor) => reciprocal(sqrt(x));
export const abs = (x: Tensor) => unary('Abs', x);
export const sign = (x: Tensor) => unary('Sign', x);
export const relu = (x: Tensor) => unary('Relu', x);
export const sigmoid = (x: Tensor) => unary('Sigmoid', x);
export const tanh = (x: Tensor) => unary('Tanh', x);
export const erf = (x: Tensor) => unary('Erf', x);
/** Exact (erf) GELU, the fused ONNX-20 op; its backward is composed in autodiff. */
export const gelu = (x: Tensor) => unary('Gelu', x);
export const silu = (x: Tensor) => mul(x, sigmoid(x));

export function softmax(x: Tensor, axis = -1): Tensor {
  return unary('Softmax', x, { axis: normAxis(axis, x.rank, 'softmax') });
}
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return unary('LogSoftmax', x, { axis: normAxis(axis, x.rank, 'logSoftmax') });
}

export function cast(x: Tensor, to: DType): Tensor {
  if (x.dtype === to) return x;
  return unary('Cast', x, { to: ONNX_TYPE[to] }, to);
}
export const ONNX_TYPE: Record<DType, number> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float64: 11, uint32: 12 };

/** Identity whose output blocks gradients. */
export function stopGradient(x: Tensor): Tensor {
  const y = unary('Identity', x);
  y.noGrad = true;
  return y;
}

export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const g = cond.graph;
  const dt = dtypeOf(a, b);
  const ta = lift(a, dt, g);
  const tb = lift(b, dt, g);
  const shape = broadcastShape(broadcastShape(cond.shape, ta.shape, 'where'), tb.shape, 'where');
  return g.node('Where', [cond, ta, tb], [[dt, shape]])[0]!;
}

// ---------------------------------------------------------------------------------------------------
// Reductions

function reduceAxes(x: Tensor, axes: number | number[] | undefined, op: string): number[] {
  const list = axes === undefined ? x.shape.map((_, i) => i) : Array.isArray(axes) ? axes : [axes];
  return [...new Set(list.map((a) => normAxis(a, x.rank, op)))].sort((p, q) => p - q);
}
function reduce(op: string, x: Tensor, axes: number | number[] | undefined, keepdims: boolean): Tensor {
  const ax = reduceAxes(x, axes, op);
  const shape = keepdims ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !ax.includes(i));
  return x.graph.node(op, [x, x.graph.ints(ax)], [[x.dtype, shape]], { keepdims: keepdims ? 1 : 0 })[0]!;
}
export const sum = (x: Tensor, axes?: number | number[], keepdims = false) => reduce('ReduceSum', x, axes, keepdims);
export const max = (x: Tensor, axes?: number | number[], keepdims = false) => reduce('ReduceMax', x, axes, keepdims);
/**
 * log Σ exp(x) along `axis`, shifted by the (gradient-free) max for stability. The backward reuses the
 * forward's exponentials — softmax(x)·g in one broadcasting multiply, no expanded copy of g.
 */
export function logSumExp(x: Tensor, axis = -1): Tensor {
  const a = normAxis(axis, x.rank, 'logSumExp');
  const top = stopGradient(max(x, a, true));
  const e = exp(sub(x, top));
  const total = sum(e, a, true);
  return customGrad(squeeze(add(log(total), top), a), [x], (gy) => [mul(e, div(unsqueeze(gy, a), total))]);
}
export function mean(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  const ax = reduceAxes(x, axes, 'mean');
  const n = dimProduct(ax.map((a) => x.shape[a]!));
  if (typeof n !== 'number') return reduce('ReduceMean', x, ax, keepdims);
  return mul(sum(x, ax, keepdims), 1 / n);
}

// ---------------------------------------------------------------------------------------------------
// Shape ops

/** Reshape; `0` copies the input dim, `-1` is inferred (as in ONNX). */
export function reshape(x: Tensor, target: readonly Dim[]): Tensor {
  const out: Dim[] = target.map((d, i) => (d === 0 ? x.shape[i]! : d));
  const inferred = out.indexOf(-1);
  const total = dimProduct(x.shape);
  if (inferred >= 0) {
    const known = dimProduct(out.filter((_, i) => i !== inferred));
    if (typeof total === 'number' && typeof known === 'number') {
      if (known === 0 || total % known !== 0) throw shapeError('reshape', 'cannot reshape', x.shape, target);
      out[inferred] = total / known;
    } else {
      out[inferred] = typeof known === 'number' && known === 1 ? total : `(${total})/(${known})`;
    }
  } else if (typeof total === 'number') {
    const t = dimProduct(out);
    if (typeof t === 'number' && t !== total) throw shapeError('reshape', 'element counts differ', x.shape, out);
  }
  if (out.every((d, i) => d === x.shape[i]) && out.length === x.rank) return x;
  const spec = target.map((d, i) => (typeof d === 'number' ? d : x.shape[i] === d ? 0 : -1));
  if (spec.filter((d) => d === -1).length > 1) throw shapeError('reshape', 'more than one dim to infer', x.shape, target);
  return x.graph.node('Reshape', [x, x.graph.ints(spec)], [[x.dtype, out]])[0]!;
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = axis < 0 ? axis + x.rank + 1 : axis;
  const shape = [...x.shape.slice(0, a), 1, ...x.shape.slice(a)];
  return x.graph.node('Unsqueeze', [x, x.graph.ints([a])], [[x.dtype, shape]])[0]!;
}
export function squeeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.rank, 'squeeze');
  if (x.shape[a] !== 1) throw shapeError('squeeze', `dim ${a} is not 1`, x.shape);
  return x.graph.node('Squeeze', [x, x.graph.ints([a])], [[x.dtype, x.shape.filter((_, i) => i !== a)]])[0]!;
}

export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank) throw shapeError('transpose', `perm ${JSON.stringify(p)} does not fit`, x.shape);
  return x.graph.node('Transpose', [x], [[x.dtype, p.map((i) => x.shape[i]!)]], { perm: [...p] })[0]!;
}
/** Swap the last two axes. */
export function transposeLast(x: Tensor): Tensor {
  const p = x.shape.map((_, i) => i);
  [p[x.rank - 1], p[x.rank - 2]] = [p[x.rank - 2]!, p[x.rank - 1]!];
  return transpose(x, p);
}

export function concat(xs: Tensor[], axis: number): Tensor {
  const first = xs[0]!;
  const a = normAxis(axis, first.rank, 'concat');
  const dims: Dim[] = [];
  for (const x of xs) {
    if (x.rank !== first.rank || x.shape.some((d, i) => i !== a && d !== first.shape[i])) throw shapeError('concat', 'shapes differ off the concat axis', first.shape, x.shape);
    dims.push(x.shape[a]!);
  }
  const shape = first.shape.map((d, i) => (i === a ? sumDims(dims) : d));
  return first.graph.node('Concat', xs, [[first.dtype, shape]], { axis: a })[0]!;
}
function sumDims(dims: Dim[]): Dim {
  return dims.every((d) => typeof d === 'number') ? (dims as number[]).reduce((s, d) => s + d, 0) : dims.join('+');
}

/** Split along an axis into pieces of the given (static) sizes. */
export function split(x: Tensor, axis: number, sizes: readonly number[]): Tensor[] {
  const a = normAxis(axis, x.rank, 'split');
  const d = x.shape[a];
  if (typeof d === 'number' && sizes.reduce((s, v) => s + v, 0) !== d) throw shapeError('split', `sizes ${sizes.join('+')} do not add up to dim ${a}`, x.shape);
  const outs = sizes.map((n) => [x.dtype, x.shape.map((di, i) => (i === a ? n : di))] as const);
  return x.graph.node('Split', [x, x.graph.ints(sizes)], outs, { axis: a });
}

/** x[..., start:end, ...] along one axis (step 1). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = normAxis(axis, x.rank, 'slice');
  const d = x.shape[a]!;
  let len: Dim;
  if (typeof d === 'number') {
    const s = Math.max(0, start < 0 ? d + start : Math.min(start, d));
    const e = Math.max(s, end < 0 ? d + end : Math.min(end, d));
    len = e - s;
  } else {
    len = start >= 0 && end >= 0 && end < 2 ** 31 ? end - start : `${d}[${start}:${end}]`;
  }
  const shape = x.shape.map((di, i) => (i === a ? len : di));
  const g = x.graph;
  return g.node('Slice', [x, g.ints([start]), g.ints([end]), g.ints([a])], [[x.dtype, shape]])[0]!;
}

/** Embedding-style lookup: `data` indexed along `axis` by an int tensor of any shape. */
export function gather(data: Tensor, indices: Tensor, axis = 0): Tensor {
  if (isFloat(indices.dtype)) throw new GenrecError('GENREC_E_DTYPE', 'gather: indices must be int32 or int64', 'cast indices to int32');
  const a = normAxis(axis, data.rank, 'gather');
  const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  return data.graph.node('Gather', [data, indices], [[data.dtype, shape]], { axis: a })[0]!;
}

/** out[i][j] = data[i][indices[i][j]] along `axis` (indices shaped like the output, same rank as data). */
export function gatherElements(data: Tensor, indices: Tensor, axis = -1): Tensor {
  if (isFloat(indices.dtype)) throw new GenrecError('GENREC_E_DTYPE', 'gatherElements: indices must be int32 or int64', 'cast indices to int32');
  if (indices.rank !== data.rank) throw shapeError('gatherElements', 'expects indices of the same rank as data', data.shape, indices.shape);
  return data.graph.node('GatherElements', [data, indices], [[data.dtype, indices.shape]], { axis: normAxis(axis, data.rank, 'gatherElements') })[0]!;
}

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  return x.graph.node('Expand', [x, x.graph.ints(shape)], [[x.dtype, broadcastShape(x.shape, shape, 'expand')]])[0]!;
}

/** The runtime shape of x as an int64 tensor (for reshapes that must follow dynamic dims). */
export function shapeOf(x: Tensor): Tensor {
  return x.graph.node('Shape', [x], [['int64', [x.rank]]])[0]!;
}

/** A tensor shaped like x (dynamic dims included) filled with `value`. */
export function fullLike(x: Tensor, value: number, dtype: DType = x.dtype): Tensor {
  const attr = { tensor: { name: 'value', dataType: ONNX_TYPE[dtype], dims: [1], raw: new Uint8Array(makeTyped(dtype, [value]).buffer) } };
  const t = x.graph.node('ConstantOfShape', [shapeOf(x)], [[dtype, x.shape]], { value: attr })[0]!;
  t.noGrad = true;
  return t;
}
export const zerosLike = (x: Tensor) => fullLike(x, 0);

/**
 * Update elements one ScatterND node adds. ORT's CPU ScatterND splits its indices among the intra-op threads
 * with plain (non-atomic) adds, so two threads adding into one row lose an update. Its ParallelFor runs a
 * loop on the calling thread while Eigen's cost model gives it one thread, i.e. below about 210,000 units
 * (here one unit per element); a chunk of 65,536 is well inside that, so every chunk adds in index order.
 * src/engine/scatter.test.ts checks it with two threads.
 */
const SCATTER_CHUNK = 65_536;
/** Chunked ScatterND copies the table once a chunk: worth it while that is cheaper than ScatterElements' ~20× slower per-element work. */
const CHUNK_COPY_RATIO = 16;

/**
 * out = data; out[indices[i]] += updates[i] (duplicates accumulate, in index order): the gradient of `gather`
 * on axis 0. Exact and reproducible with any number of engine threads: one ScatterND per chunk small enough
 * for ORT to add on one thread (see SCATTER_CHUNK), or, when the table is too large to copy once a chunk (or
 * the number of rows is only known at run time), one ScatterElements, which ORT always runs sequentially.
 * A graph built for one thread (`Graph.oneThread`) gets one ScatterND: nothing to race, and no table copies.
 */
export function scatterAdd(data: Tensor, indices: Tensor, updates: Tensor): Tensor {
  const rest = data.shape.slice(1);
  if (!rest.every((d): d is number => typeof d === 'number')) throw shapeError('scatterAdd', 'needs static trailing dims of data', data.shape, updates.shape);
  const width = rest.reduce((a, b) => a * b, 1);
  const rows = reshape(updates, [-1, width]); // [M, width]: one row per index
  const idx = reshape(cast(indices, 'int64'), [-1, 1]);
  const table = reshape(data, [-1, width]);
  const [M, V] = [rows.shape[0], table.shape[0]];
  const perChunk = Math.max(1, Math.floor(SCATTER_CHUNK / width));
  let out: Tensor;
  if (data.graph.oneThread) {
    out = data.graph.node('ScatterND', [table, idx, rows], [[data.dtype, table.shape]], { reduction: 'add' })[0]!;
  } else if (typeof M === 'number' && typeof V === 'number' && Math.ceil(M / perChunk) * V <= CHUNK_COPY_RATIO * M) {
    out = table;
    for (let s = 0; s < M; s += perChunk) {
      const e = Math.min(M, s + perChunk);
      const [ci, cr] = s === 0 && e === M ? [idx, rows] : [slice(idx, 0, s, e), slice(rows, 0, s, e)];
      out = data.graph.node('ScatterND', [out, ci, cr], [[data.dtype, table.shape]], { reduction: 'add' })[0]!;
    }
  } else {
    const wide = data.graph.node('Expand', [idx, shapeOf(rows)], [['int64', rows.shape]])[0]!;
    out = data.graph.node('ScatterElements', [table, wide, rows], [[data.dtype, table.shape]], { axis: 0, reduction: 'add' })[0]!;
  }
  return reshape(out, [-1, ...rest]);
}

/** out = data; out[i][indices[i][j]] += updates[i][j] along `axis` (inference: no gradient rule). */
export function scatterElementsAdd(data: Tensor, indices: Tensor, updates: Tensor, axis: number): Tensor {
  const a = normAxis(axis, data.rank, 'scatterElementsAdd');
  return data.graph.node('ScatterElements', [data, cast(indices, 'int64'), updates], [[data.dtype, data.shape]], { axis: a, reduction: 'add' })[0]!;
}

/** Top-k along the last axis (inference): values and int64 indices. */
export function topk(x: Tensor, k: number, largest = true): [Tensor, Tensor] {
  const shape = [...x.shape.slice(0, -1), k];
  const [v, i] = x.graph.node('TopK', [x, x.graph.ints([k])], [[x.dtype, shape], ['int64', shape]], { axis: -1, largest: largest ? 1 : 0, sorted: 1 });
  v!.noGrad = true;
  return [v!, i!];
}

/** Index of the minimum along `axis` (int64, first index on ties; inference only, no gradient). */
export function argmin(x: Tensor, axis = -1, keepdims = false): Tensor {
  const a = normAxis(axis, x.rank, 'argmin');
  const shape = keepdims ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  const t = x.graph.node('ArgMin', [x], [['int64', shape]], { axis: a, keepdims: keepdims ? 1 : 0, select_last_index: 0 })[0]!;
  t.noGrad = true;
  return t;
}

/** Minimum over axes (inference only: no gradient rule). */
export function min(x: Tensor, axes?: number | number[], keepdims = false): Tensor {
  const t = reduce('ReduceMin', x, axes, keepdims);
  t.noGrad = true;
  return t;
}

// ---------------------------------------------------------------------------------------------------
// Linear algebra

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2) throw shapeError('matmul', 'both operands need rank ≥ 2', a.shape, b.shape);
  const k1 = a.dim(-1), k2 = b.dim(-2);
  if (k1 !== k2) throw shapeError('matmul', `inner dims differ (${k1} vs ${k2})`, a.shape, b.shape);
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2), 'matmul');
  return a.graph.node('MatMul', [a, b], [[a.dtype, [...batch, a.dim(-2), b.dim(-1)]]])[0]!;
}

/** 2-D GEMM with free transposes: op(a) @ op(b). */
export function gemm(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  if (a.rank !== 2 || b.rank !== 2) throw shapeError('gemm', 'both operands must be 2-D', a.shape, b.shape);
  const [m, k1] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [k2, n] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (k1 !== k2) throw shapeError('gemm', `inner dims differ (${k1} vs ${k2})`, a.shape, b.shape);
  return a.graph.node('Gemm', [a, b], [[a.dtype, [m, n]]], { transA: transA ? 1 : 0, transB: transB ? 1 : 0 })[0]!;
}

// ---------------------------------------------------------------------------------------------------
// Normalisation

/**
 * Layer norm over the last axis: the fused ONNX op forward (which also returns mean and 1/std, reused
 * by the backward in autodiff).
 */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor | null, eps = 1e-5): Tensor {
  const stat: Dim[] = [...x.shape.slice(0, -1), 1];
  const statType: DType = 'float32';
  const inputs = beta ? [x, gamma, beta] : [x, gamma];
  return x.graph.node('LayerNormalization', inputs, [[x.dtype, x.shape], [statType, stat], [statType, stat]], { axis: -1, epsilon: { float: eps } })[0]!;
}

/** RMS norm over the last axis, composed: x · rsqrt(mean(x²) + eps) · gamma. */
export function rmsNorm(x: Tensor, gamma: Tensor, eps = 1e-6): Tensor {
  return mul(mul(x, rsqrt(add(mean(mul(x, x), -1, true), eps))), gamma);
}

// ---------------------------------------------------------------------------------------------------
// Dropout with masks derived from (seed, step)

const DROPOUT_KEY = { name: 'dropout-key' };
/** The uint32 key fed each step (the runtime derives it from seed and step), shared by all dropout sites. */
export function dropoutKey(g: Graph): Tensor {
  return g.bind(DROPOUT_KEY, () => g.input('dropout_key', 'uint32', []));
}
/** Dropout sites numbered per graph, so recompiling a model (e.g. to resume) draws the same masks. */
const dropoutSites = new WeakMap<Graph, number>();

/** A new dropout site number for graph g (sites are numbered per graph, so a recompiled model draws the same masks). */
export function dropoutSite(g: Graph): number {
  const siteNo = (dropoutSites.get(g) ?? 0) + 1;
  dropoutSites.set(g, siteNo);
  return siteNo;
}

/**
 * Where a dropout mask's elements sit in a larger tensor that one site covers: the element at flat
 * position k of x is element index[k] (uint32) of that tensor. A tensor computed in pieces (a causal
 * attention's query chunks) then draws exactly the mask the whole tensor would.
 */
export interface DropoutPiece { site: number; index: Tensor }

/**
 * Inverted dropout whose mask is a hash of (element index, site, key): no hidden RNG state in the
 * session, so a resumed run (same seed, same step) draws the same masks. The hash is lowbias32 without
 * its last xor-shift (see below).
 */
export function dropout(x: Tensor, p: number, training: boolean, piece?: DropoutPiece): Tensor {
  if (!training || p <= 0) return x;
  if (p >= 1) throw new GenrecError('GENREC_E_CONFIG', `dropout probability must be < 1, got ${p}`, 'use a value in [0, 1)');
  const n = x.size;
  if (n === null) throw shapeError('dropout', 'training graphs need static shapes', x.shape);
  const g = x.graph;
  const site = ((piece?.site ?? dropoutSite(g)) * 0x9e3779b1) >>> 0;
  const idx = piece ? reshape(piece.index, [n]) : cast(g.node('Range', [g.scalar(0, 'int32'), g.scalar(n, 'int32'), g.scalar(1, 'int32')], [['int32', [n]]])[0]!, 'uint32');
  let h = add(mul(idx, 0x85ebca6b), add(dropoutKey(g), site));
  h = bitwiseXor(h, shiftRight(h, 16));
  h = mul(h, 0x7feb352d);
  h = bitwiseXor(h, shiftRight(h, 15));
  h = mul(h, 0x846ca68b);
  // lowbias32 ends with h ^= h >> 16, which leaves the top 16 bits as they are; the keep test reads the
  // top bits, so that step could only flip an element within 2⁻¹⁶ of the threshold. Skipping it saves a
  // pass of each of BitwiseXor and BitShift over every mask (the attention masks are the step's largest).
  const keep = greaterOrEqual(h, Math.min(0xffffffff, Math.round(p * 2 ** 32)));
  const mask = stopGradient(reshape(mul(cast(keep, x.dtype), 1 / (1 - p)), x.shape as Dim[]));
  return mul(x, mask);
}

// ---------------------------------------------------------------------------------------------------
// Losses

export interface CrossEntropyOptions {
  /** Targets equal to this are ignored (no loss, no gradient). */
  ignoreIndex?: number;
  labelSmoothing?: number;
  /** Optional per-row weights [N] (e.g. event-type weights); multiplies each row's loss. */
  weights?: Tensor;
}

/**
 * Mean softmax cross-entropy of `logits` [N, V] against int `targets` [N]. The backward is written by
 * hand — softmax minus the (smoothed) one-hot, scaled per row — because composing it from the forward
 * ops would add several passes over the N×V logits.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const ce = crossEntropyForward(logits, targets, opts);
  const g = logits.graph;
  return customGrad(ce.loss, [logits], (gy) => {
    const rowScale = unsqueeze(div(mul(ce.w, gy), ce.denom), -1); // [N, 1]
    let p = ce.p;
    if (ce.eps > 0) p = sub(p, ce.eps / ce.V);
    const scaled = mul(p, rowScale);
    const hit = mul(rowScale, -(1 - ce.eps));
    return [g.node('ScatterElements', [scaled, ce.idx, hit], [[ce.dtype, scaled.shape]], { axis: 1, reduction: 'add' })[0]!];
  });
}

/**
 * `crossEntropy(gemm(h, w, false, true), targets, opts)` — an output layer h [N, d] · w [V, d]ᵀ and its
 * loss — with one pass less over the [N, V] logits in the backward: the per-row scale goes onto the thin
 * operands, dh = s ⊙ (G·w) and dw = Gᵀ·(s ⊙ h), where G is softmax minus the (smoothed) one-hot, and
 * label smoothing's uniform term is a [1, d] correction instead of a subtraction over [N, V].
 */
export function linearCrossEntropy(h: Tensor, w: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const ce = crossEntropyForward(gemm(h, w, false, true), targets, opts);
  const g = h.graph;
  return customGrad(ce.loss, [h, w], (gy) => {
    const s = unsqueeze(div(mul(ce.w, gy), ce.denom), -1); // [N, 1]
    // G = p − (1 − ε)·onehot(t) never formed: its one-hot part is a gather of w's target rows (for dh) and a
    // scatter of hs into them (for dw), so the backward reads the [N, V] probabilities only in its GEMMs.
    const t = squeeze(ce.idx, -1), hit = (x: Tensor) => (ce.eps > 0 ? mul(x, 1 - ce.eps) : x);
    const hs = mul(h, s);
    let dh = sub(gemm(ce.p, w), hit(gather(w, t)));
    let dw = sub(gemm(ce.p, hs, true, false), hit(scatterAdd(zerosLike(w), t, hs)));
    if (ce.eps > 0) {
      dh = sub(dh, mul(sum(w, 0, true), ce.eps / ce.V));
      dw = sub(dw, mul(sum(hs, 0, true), ce.eps / ce.V));
    }
    return [mul(dh, s), dw];
  });
}

/** The forward both cross-entropies share: the loss, log-probabilities and what their backwards read. */
function crossEntropyForward(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions) {
  if (logits.rank !== 2 || targets.rank !== 1) throw shapeError('crossEntropy', 'expects logits [N, V] and targets [N]', logits.shape, targets.shape);
  const g = logits.graph;
  const eps = opts.labelSmoothing ?? 0;
  const V = logits.dim(-1);
  if (eps > 0 && typeof V !== 'number') throw shapeError('crossEntropy', 'label smoothing needs a static vocabulary', logits.shape);
  const dtype = logits.dtype;
  const t64 = cast(targets, 'int64');
  let w: Tensor = opts.ignoreIndex === undefined ? fullLike(t64, 1, dtype) : cast(unary('Not', equal(t64, g.scalar(opts.ignoreIndex, 'int64')), {}, 'bool'), dtype);
  if (opts.weights) w = mul(w, opts.weights);
  const safeT = opts.ignoreIndex === undefined ? t64 : where(equal(t64, g.scalar(opts.ignoreIndex, 'int64')), g.scalar(0, 'int64'), t64);
  const idx = unsqueeze(safeT, -1);
  // The softmax, not its log: the backwards read the probabilities, and exp(log-softmax) was one more
  // pass over [N, V] (3% of a Beauty step). The loss needs only the target's log-probability (its
  // probability floored at 1e-38, so one that underflowed gives a finite loss) and, with label smoothing,
  // mean(log p) = mean(z) − lse, where lse = z_t − log p_t.
  const p = softmax(logits, -1);
  const pick = (x: Tensor) => squeeze(g.node('GatherElements', [x, idx], [[dtype, idx.shape]], { axis: 1 })[0]!, -1);
  const picked = log(maximum(pick(p), 1e-38));
  let rowLoss = neg(picked);
  if (eps > 0) rowLoss = add(mul(rowLoss, 1 - eps), mul(add(sub(mean(logits, -1), pick(logits)), picked), -eps));
  const denom = stopGradient(maximum(sum(w), 1));
  return { loss: div(sum(mul(rowLoss, w)), denom), p, idx, w, denom, eps, V: V as number, dtype };
}
