/**
 * Finite-difference gradient checks for every differentiable op and rule in autodiff.ts.
 *
 * Each case builds ONE graph: inputs x (always fed as float64) → [cast to the compute dtype] → f(x) →
 * [cast back to float64] → loss = Σ f(x)·R with a random projection R, plus ∂loss/∂x from `gradients()`.
 * One ORT session is created per case; the analytic gradients come from one run, and central differences
 * (loss(x + h·eᵢ) − loss(x − h·eᵢ)) / 2h from re-running the same session on perturbed feeds, for every
 * element of every input (a seeded random subset for inputs larger than MAX_CHECKED).
 *
 * Tolerances: an element passes when |analytic − numeric| ≤ atol + rtol·|numeric|.
 *  - float64 (h = 1e-5): truncation error ≈ h²/6·|f'''| ≈ 2e-11 and rounding error ≈ 1e-16·|loss|/h ≈ 1e-10
 *    for our O(1)-valued, O(100)-element cases, so atol = 1e-7, rtol = 1e-6 leave a margin of ≥ 100× while
 *    still catching any wrong rule (a wrong factor or sign gives errors of order 1). Observed: the worst
 *    element uses 0.8% of its tolerance.
 *  - float32 (ORT has no double Erf or Gelu kernel, and LayerNormalization's saved mean/invstd are float32
 *    whatever the input type, so its backward runs in float32), h = 1e-2:
 *    each output element carries a rounding error of ≈ 6e-8·|y| (the projection and sum run in float64, so
 *    only the op's own rounding counts); summed over N ≤ 100 elements with random signs and divided by 2h
 *    that is ≈ 3e-6·√N ≈ 3e-5, truncation is ≈ h²/6·|f'''| ≈ 2e-5·|f'''| (|f'''| ≲ 3 for these inputs), and
 *    the analytic gradient itself is float32 (≈ 1e-6 relative). So atol = 5e-4, rtol = 2e-3 (≈ 10× the
 *    estimated worst case). Observed: the worst element uses 3% of its tolerance.
 * GRADCHECK_REPORT=1 prints each case's worst error as a fraction of its tolerance.
 * Non-smooth ops (relu, abs, max/min, reduce-max) get inputs kept ≥ 0.08 away from their kinks and ties,
 * far more than h, so the finite differences never straddle one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradients } from './autodiff.js';
import { emit } from './emit.js';
import { GenrecError } from './errors.js';
import { Graph, isFloat, type Dim, type Tensor, type TypedData } from './graph.js';
import * as op from './ops.js';
import { Rng, hashString } from './random.js';
import { createSession, runGraph, toOrt, type ort } from './runtime.js';

type Gen = (rng: Rng, n: number) => number[];
const normal: Gen = (rng, n) => Array.from({ length: n }, () => rng.normal());
const positive: Gen = (rng, n) => Array.from({ length: n }, () => 0.5 + 1.5 * rng.next());
/** |x| ≥ 0.1: away from the kink of relu and abs. */
const awayFromZero: Gen = (rng, n) => Array.from({ length: n }, () => (rng.next() < 0.5 ? -1 : 1) * (0.1 + rng.next()));
/** Distinct values at least 0.08 apart (a shuffled grid plus small noise): no ties for max. */
const distinct: Gen = (rng, n) => rng.shuffle(Array.from({ length: n }, (_, i) => (i - n / 2) * 0.1 + 0.01 * rng.next()));
/** Values on the grid 0.2·k (k ∈ −5..5); `offGrid` lies halfway between: every pair differs by ≥ 0.1. */
const onGrid: Gen = (rng, n) => Array.from({ length: n }, () => 0.2 * (rng.int(11) - 5));
const offGrid: Gen = (rng, n) => onGrid(rng, n).map((v) => v + 0.1);
const ints = (values: number[]): Gen => () => values;

interface InputSpec {
  shape: Dim[];
  /** Concrete dims to feed when `shape` has named dynamic dims. */
  dims?: number[];
  dtype?: 'float' | 'int64' | 'int32';
  gen?: Gen;
  /** Check the gradient with respect to this input (default: float inputs). */
  grad?: boolean;
}

interface Case {
  inputs: InputSpec[];
  f: (xs: Tensor[], g: Graph) => Tensor;
  /** Dtype the op runs in; inputs are cast to it from float64 and the output cast back. */
  dtype?: 'float64' | 'float32';
  /** Concrete output dims when the output shape has dynamic dims. */
  outDims?: number[];
  /** Inputs whose gradient must be null (e.g. blocked by stopGradient). */
  noGrad?: number[];
  /** Feeds for graph inputs the op declares itself (e.g. dropout_key). */
  feeds?: Record<string, ort.Tensor>;
  /** false: skip the finite differences (the caller checks the analytic gradients itself). */
  numeric?: boolean;
}

const MAX_CHECKED = 48;

interface CheckResult { analytic: Float64Array[]; x: TypedData[]; proj: Float64Array }

/** Runs the finite-difference check of one case (see the file comment); returns the analytic gradients. */
async function gradCheck(name: string, c: Case): Promise<CheckResult> {
  const rng = new Rng(hashString(name));
  const dtype = c.dtype ?? 'float64';
  const [h, atol, rtol] = dtype === 'float64' ? [1e-5, 1e-7, 1e-6] : [1e-2, 5e-4, 2e-3];
  const g = new Graph(`gradcheck_${name}`);
  const fedData: TypedData[] = [];
  const fed = c.inputs.map((s, i) => {
    const dt = s.dtype ?? 'float';
    const dims = s.dims ?? (s.shape as number[]);
    const n = dims.reduce((a, b) => a * b, 1);
    const values = (s.gen ?? normal)(rng, n);
    assert.equal(values.length, n, `input ${i} of ${name}: generator gave ${values.length} values for ${n}`);
    fedData.push(dt === 'float' ? Float64Array.from(values) : dt === 'int32' ? Int32Array.from(values) : BigInt64Array.from(values.map(BigInt)));
    return g.input(`x${i}`, dt === 'float' ? 'float64' : dt, s.shape);
  });
  const xs = fed.map((t) => (isFloat(t.dtype) ? op.cast(t, dtype) : t));
  const y = op.cast(c.f(xs, g), 'float64');
  const proj = g.input('proj', 'float64', y.shape);
  const projDims = c.outDims ?? (y.shape as number[]);
  const projData = Float64Array.from(normal(rng, projDims.reduce((a, b) => a * b, 1)));
  const loss = op.sum(op.mul(y, proj));

  const blocked = new Set(c.noGrad);
  const wrt = fed.filter((_, i) => (c.inputs[i]!.grad ?? isFloat(fed[i]!.dtype)) || blocked.has(i));
  const grads = gradients(loss, wrt);
  const outputs: Record<string, Tensor> = { loss };
  wrt.forEach((t, k) => {
    const i = fed.indexOf(t);
    const gr = grads[k] ?? null;
    if (blocked.has(i)) assert.equal(gr, null, `${name}: gradient of x${i} should be blocked`);
    else {
      assert.ok(gr, `${name}: no gradient for x${i}`);
      outputs[`grad${i}`] = gr;
    }
  });

  const session = await createSession(emit(g, outputs).bytes, { threads: 1 });
  const feeds: Record<string, ort.Tensor> = { ...c.feeds, proj: toOrt(projData, projDims) };
  fed.forEach((t, i) => (feeds[t.name] = toOrt(fedData[i]!, c.inputs[i]!.dims ?? (c.inputs[i]!.shape as number[]))));
  const base = await session.run(feeds);
  const lossAt = async () => Number((await session.run(feeds, ['loss'])).loss!.data[0]);

  const analytic: Float64Array[] = [];
  let worst = { ratio: 0, where: '' };
  for (const [i, t] of fed.entries()) {
    const out = base[`grad${i}`];
    if (!out) continue;
    const a = out.data as Float64Array;
    analytic[i] = a;
    if (c.numeric === false) continue;
    const x = fedData[i] as Float64Array;
    assert.equal(a.length, x.length, `${name}: gradient of x${i} has ${a.length} elements, the input ${x.length}`);
    let idx = Array.from(x, (_, k) => k);
    if (idx.length > MAX_CHECKED) idx = rng.shuffle(idx).slice(0, MAX_CHECKED);
    for (const k of idx) {
      const x0 = x[k]!;
      x[k] = x0 + h;
      const up = await lossAt();
      x[k] = x0 - h;
      const down = await lossAt();
      x[k] = x0;
      const numeric = (up - down) / (2 * h);
      const err = Math.abs(a[k]! - numeric);
      const ratio = err / (atol + rtol * Math.abs(numeric));
      if (!(ratio <= worst.ratio)) worst = { ratio, where: `${t.name}[${k}]: analytic ${a[k]}, numeric ${numeric}, |diff| ${err}` };
    }
  }
  await session.release();
  if (process.env.GRADCHECK_REPORT) console.error(`${name}: worst error / tolerance ${worst.ratio.toExponential(2)}`);
  assert.ok(worst.ratio <= 1, `${name}: gradient mismatch beyond atol ${atol} + rtol ${rtol}: ${worst.where}`);
  return { analytic, x: fedData, proj: projData };
}

/** Declares a test that runs the gradient check of one case. */
function check(name: string, c: Case): void {
  test(`gradient of ${name}`, async () => {
    await gradCheck(name, c);
  });
}

const f = (shape: Dim[], gen?: Gen): InputSpec => ({ shape, ...(gen ? { gen } : {}) });

// ---- element-wise binary ops, with broadcasting both ways ------------------------------------------
check('Add', { inputs: [f([2, 3]), f([2, 3])], f: ([a, b]) => op.add(a!, b!) });
check('Add broadcasting both ways', { inputs: [f([2, 1, 4]), f([3, 1])], f: ([a, b]) => op.add(a!, b!) });
check('Sub broadcasting both ways', { inputs: [f([3, 1]), f([2, 1, 4])], f: ([a, b]) => op.sub(a!, b!) });
check('Mul broadcasting both ways', { inputs: [f([2, 1, 4]), f([3, 1])], f: ([a, b]) => op.mul(a!, b!) });
check('Mul by itself and a scalar', { inputs: [f([2, 3])], f: ([a]) => op.mul(op.mul(a!, a!), 3) });
check('Div broadcasting both ways', { inputs: [f([2, 1, 4]), f([3, 1], awayFromZero)], f: ([a, b]) => op.div(a!, b!) });
check('Div broadcasting the numerator', { inputs: [f([4]), f([3, 4], awayFromZero)], f: ([a, b]) => op.div(a!, b!) });
check('Div of a scalar', { inputs: [f([2, 3], awayFromZero)], f: ([a]) => op.div(2, a!) });
check('Max broadcasting', { inputs: [f([3, 4], onGrid), f([4], offGrid)], f: ([a, b]) => op.maximum(a!, b!) });
check('Min broadcasting', { inputs: [f([3, 1], onGrid), f([3, 4], offGrid)], f: ([a, b]) => op.minimum(a!, b!) });

// ---- unary ops ----------------------------------------------------------------------------------------
check('Pow 3', { inputs: [f([2, 3])], f: ([x]) => op.pow(x!, 3) });
check('Pow 2 (composed as Mul)', { inputs: [f([2, 3])], f: ([x]) => op.pow(x!, 2) });
check('Pow 0.5', { inputs: [f([2, 3], positive)], f: ([x]) => op.pow(x!, 0.5) });
check('Pow -1.5', { inputs: [f([2, 3], positive)], f: ([x]) => op.pow(x!, -1.5) });
check('Neg', { inputs: [f([2, 3])], f: ([x]) => op.neg(x!) });
check('Exp', { inputs: [f([2, 3])], f: ([x]) => op.exp(x!) });
check('Log', { inputs: [f([2, 3], positive)], f: ([x]) => op.log(x!) });
check('Sqrt', { inputs: [f([2, 3], positive)], f: ([x]) => op.sqrt(x!) });
check('Reciprocal', { inputs: [f([2, 3], awayFromZero)], f: ([x]) => op.reciprocal(x!) });
check('rsqrt', { inputs: [f([2, 3], positive)], f: ([x]) => op.rsqrt(x!) });
check('Abs', { inputs: [f([2, 5], awayFromZero)], f: ([x]) => op.abs(x!) });
check('Relu', { inputs: [f([2, 5], awayFromZero)], f: ([x]) => op.relu(x!) });
check('Sigmoid', { inputs: [f([2, 3])], f: ([x]) => op.sigmoid(x!) });
check('Tanh', { inputs: [f([2, 3])], f: ([x]) => op.tanh(x!) });
check('silu', { inputs: [f([2, 5])], f: ([x]) => op.silu(x!) });
// ORT has no double Erf or Gelu kernel: float32 (see the tolerances in the file comment).
check('Erf (float32)', { dtype: 'float32', inputs: [f([3, 5])], f: ([x]) => op.erf(x!) });
check('Gelu (float32)', { dtype: 'float32', inputs: [f([3, 5])], f: ([x]) => op.gelu(x!) });
check('Softmax last axis', { inputs: [f([3, 5])], f: ([x]) => op.softmax(x!, -1) });
check('Softmax middle axis', { inputs: [f([2, 3, 4])], f: ([x]) => op.softmax(x!, 1) });
check('LogSoftmax last axis', { inputs: [f([3, 5])], f: ([x]) => op.logSoftmax(x!, -1) });
check('LogSoftmax first axis', { inputs: [f([3, 5])], f: ([x]) => op.logSoftmax(x!, 0) });
// The harness casts float64 inputs to float32 and the output back (as in every float32 case).
check('Cast float64 ↔ float32', { dtype: 'float32', inputs: [f([2, 3])], f: ([x]) => op.mul(x!, x!) });
check('Cast of an int input (no gradient to it)', {
  inputs: [f([2, 3]), { shape: [2, 3], dtype: 'int64', gen: ints([1, 2, 3, 4, 5, 6]) }],
  f: ([x, k]) => op.mul(x!, op.cast(k!, 'float64')),
  noGrad: [1],
});

// ---- reductions -----------------------------------------------------------------------------------------
check('ReduceSum last axis', { inputs: [f([2, 3, 4])], f: ([x]) => op.sum(x!, -1) });
check('ReduceSum two axes keepdims', { inputs: [f([2, 3, 4])], f: ([x]) => op.sum(x!, [0, 2], true) });
check('ReduceSum two axes', { inputs: [f([2, 3, 4])], f: ([x]) => op.sum(x!, [0, 2]) });
check('ReduceSum all axes', { inputs: [f([2, 3, 4])], f: ([x]) => op.sum(x!) });
check('mean keepdims', { inputs: [f([2, 3, 4])], f: ([x]) => op.mean(x!, 1, true) });
check('mean two axes', { inputs: [f([2, 3, 4])], f: ([x]) => op.mean(x!, [1, 2]) });
check('ReduceMax one axis', { inputs: [f([3, 4], distinct)], f: ([x]) => op.max(x!, 1) });
check('ReduceMax two axes keepdims', { inputs: [f([2, 3, 4], distinct)], f: ([x]) => op.max(x!, [0, 2], true) });
// Nodes op.* only emits in special cases, built directly: ReduceMean (op.mean composes Sum·1/n for
// static axes) and Identity (op.stopGradient's Identity blocks the gradient).
check('ReduceMean node and Identity node', {
  inputs: [f([2, 3, 4])],
  f: ([x], g) => {
    const m = g.node('ReduceMean', [x!, g.ints([0, 2])], [[x!.dtype, [3]]], { keepdims: 0 })[0]!;
    return g.node('Identity', [m], [[m.dtype, m.shape]])[0]!;
  },
});
// Dynamic dims: the backward follows the runtime shape (Shape → Expand / Reshape).
check('ReduceSum over a static axis before a dynamic one', {
  inputs: [{ shape: [3, 'n', 2], dims: [3, 4, 2] }],
  f: ([x]) => op.sum(x!, 0),
  outDims: [4, 2],
});
check('ReduceSum over a static axis after a dynamic one', {
  inputs: [{ shape: ['n', 3, 2], dims: [4, 3, 2] }],
  f: ([x]) => op.sum(x!, 1),
  outDims: [4, 2],
});
check('ReduceMax before a dynamic axis', {
  inputs: [{ shape: [3, 'n'], dims: [3, 4], gen: distinct }],
  f: ([x]) => op.max(x!, 0),
  outDims: [4],
});
check('Reshape of a dynamic-shaped tensor', {
  inputs: [{ shape: ['n', 6], dims: [2, 6] }],
  f: ([x]) => op.reshape(x!, ['n', 2, 3]),
  outDims: [2, 2, 3],
});

// ---- shape ops ------------------------------------------------------------------------------------------
check('Reshape', { inputs: [f([2, 6])], f: ([x]) => op.reshape(x!, [3, -1, 2]) });
check('Unsqueeze and Squeeze', { inputs: [f([2, 3])], f: ([x]) => op.mul(op.unsqueeze(x!, 1), op.squeeze(op.unsqueeze(x!, -1), -1)) });
check('Transpose with a permutation', { inputs: [f([2, 3, 4])], f: ([x]) => op.transpose(x!, [2, 0, 1]) });
check('Transpose reversed', { inputs: [f([2, 3, 4])], f: ([x]) => op.transpose(x!) });
check('Concat (an input used twice)', { inputs: [f([2, 1]), f([2, 3])], f: ([a, b]) => op.concat([a!, b!, a!], 1) });
check('Split (a piece unused)', {
  inputs: [f([2, 6])],
  f: ([x]) => {
    const [p, , r] = op.split(x!, 1, [1, 3, 2]);
    return op.concat([op.mul(p!, 2), op.exp(r!)], 1);
  },
});
check('Slice', { inputs: [f([3, 5])], f: ([x]) => op.slice(x!, 1, 1, 3) });
check('Slice with negative start and an end past the dim', { inputs: [f([4, 3])], f: ([x]) => op.slice(x!, 0, -3, 100) });
check('Expand', { inputs: [f([3, 1])], f: ([x]) => op.expand(x!, [2, 3, 4]) });
check('Where with broadcasting', {
  inputs: [{ shape: [3, 4], grad: false }, f([3, 1]), f([4])],
  f: ([c, a, b]) => op.where(op.greater(c!, 0), a!, b!),
});
check('Where against a scalar', {
  inputs: [{ shape: [3, 4], grad: false }, f([3, 4])],
  f: ([c, a]) => op.where(op.greater(c!, 0), 0, a!),
});
// Embedding lookup with duplicate indices: the backward is ScatterND with reduction 'add'.
check('Gather with duplicate int64 indices', {
  inputs: [f([5, 3]), { shape: [2, 4], dtype: 'int64', gen: ints([1, 3, 1, 0, 3, 3, 4, 1]) }],
  f: ([e, i]) => op.gather(e!, i!),
});
check('Gather with duplicate int32 indices', {
  inputs: [f([4, 2]), { shape: [5], dtype: 'int32', gen: ints([2, 2, 0, 2, 3]) }],
  f: ([e, i]) => op.gather(e!, i!),
});

check('logSumExp over the middle axis', { inputs: [f([2, 3, 4])], f: ([x]) => op.logSumExp(x!, 1) });
check('logSumExp of large values (max-shifted)', { inputs: [f([3, 4], (rng, n) => Array.from({ length: n }, () => 500 + rng.normal()))], f: ([x]) => op.logSumExp(x!, -1) });
check('GatherElements with repeated indices on the last axis', {
  inputs: [f([2, 4]), { shape: [2, 3], dtype: 'int32', gen: ints([3, 3, 0, 1, 2, 1]) }],
  f: ([e, i]) => op.gatherElements(e!, i!, -1),
});

// ---- linear algebra -------------------------------------------------------------------------------------
check('MatMul 2-D', { inputs: [f([3, 4]), f([4, 2])], f: ([a, b]) => op.matmul(a!, b!) });
check('MatMul batched 4-D', { inputs: [f([2, 3, 4, 5]), f([2, 3, 5, 2])], f: ([a, b]) => op.matmul(a!, b!) });
check('MatMul batched 4-D with broadcast batch dims', { inputs: [f([2, 1, 4, 3]), f([3, 3, 2])], f: ([a, b]) => op.matmul(a!, b!) });
check('MatMul 3-D × 2-D (linear layer)', { inputs: [f([2, 3, 4]), f([4, 5])], f: ([a, b]) => op.matmul(a!, b!) });
check('MatMul 2-D × 3-D', { inputs: [f([3, 4]), f([2, 4, 5])], f: ([a, b]) => op.matmul(a!, b!) });
for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
  check(`Gemm transA=${ta} transB=${tb}`, {
    inputs: [f(ta ? [4, 3] : [3, 4]), f(tb ? [2, 4] : [4, 2])],
    f: ([a, b]) => op.gemm(a!, b!, ta, tb),
  });
}

// ---- normalisation, losses, dropout, stop-gradient ----------------------------------------------------
// LayerNormalization's saved mean/invstd are float32 in ORT whatever the input type: float32.
check('LayerNormalization (float32)', {
  dtype: 'float32',
  inputs: [f([2, 3, 5]), f([5]), f([5])],
  f: ([x, gamma, beta]) => op.layerNorm(x!, gamma!, beta!),
});
check('LayerNormalization without bias (float32)', {
  dtype: 'float32',
  inputs: [f([4, 6]), f([6])],
  f: ([x, gamma]) => op.layerNorm(x!, gamma!, null),
});
check('rmsNorm', { inputs: [f([2, 3, 5]), f([5])], f: ([x, gamma]) => op.rmsNorm(x!, gamma!) });

const targets = (values: number[]): InputSpec => ({ shape: [values.length], dtype: 'int64', gen: ints(values) });
check('crossEntropy', { inputs: [f([4, 5]), targets([0, 3, 3, 1])], f: ([l, t]) => op.crossEntropy(l!, t!) });
check('crossEntropy with ignoreIndex', {
  inputs: [f([5, 4]), targets([2, -100, 0, -100, 3])],
  f: ([l, t]) => op.crossEntropy(l!, t!, { ignoreIndex: -100 }),
});
check('crossEntropy with labelSmoothing', {
  inputs: [f([4, 5]), targets([4, 0, 2, 2])],
  f: ([l, t]) => op.crossEntropy(l!, t!, { labelSmoothing: 0.1 }),
});
check('crossEntropy with weights, ignoreIndex and labelSmoothing, scaled', {
  inputs: [f([5, 4]), targets([1, 3, -1, 0, 3]), { shape: [5], gen: positive, grad: false }],
  f: ([l, t, w]) => op.mul(op.crossEntropy(l!, t!, { ignoreIndex: -1, labelSmoothing: 0.2, weights: w! }), 1.5),
});
check('linearCrossEntropy', { inputs: [f([4, 3]), f([5, 3]), targets([0, 3, 3, 1])], f: ([h, w, t]) => op.linearCrossEntropy(h!, w!, t!) });
check('linearCrossEntropy with weights, ignoreIndex and labelSmoothing, scaled', {
  inputs: [f([5, 3]), f([4, 3]), targets([1, 3, -1, 0, 3]), { shape: [5], gen: positive, grad: false }],
  f: ([h, w, t, wt]) => op.mul(op.linearCrossEntropy(h!, w!, t!, { ignoreIndex: -1, labelSmoothing: 0.2, weights: wt! }), 1.5),
});

test('linearCrossEntropy: the loss and gradients of gemm + crossEntropy in float32', async () => {
  const N = 7, d = 5, V = 11;
  const rng = new Rng(3);
  const hData = Float32Array.from({ length: N * d }, () => rng.normal());
  const wData = Float32Array.from({ length: V * d }, () => rng.normal() * 0.5);
  const tData = Int32Array.from([3, -1, 0, 10, 5, -1, 3]);
  const wtData = Float32Array.from([1, 1, 0.5, 2, 0, 1, 1]);
  for (const smooth of [0, 0.1]) {
    const run = async (fused: boolean) => {
      const g = new Graph('t');
      const h = g.input('h', 'float32', [N, d]), w = g.input('w', 'float32', [V, d]), t = g.input('t', 'int32', [N]), wt = g.input('wt', 'float32', [N]);
      const o = { ignoreIndex: -1, labelSmoothing: smooth, weights: wt };
      const loss = (fused ? op.linearCrossEntropy(h, w, t, o) : op.crossEntropy(op.gemm(h, w, false, true), t, o)).mul(1.7);
      const [gh, gw] = gradients(loss, [h, w]);
      return runGraph(g, { loss, gh: gh!, gw: gw! }, { h: { data: hData, dims: [N, d] }, w: { data: wData, dims: [V, d] }, t: { data: tData, dims: [N] }, wt: { data: wtData, dims: [N] } });
    };
    const [a, b] = [await run(false), await run(true)];
    for (const key of ['loss', 'gh', 'gw']) {
      const x = a[key] as Float32Array, y = b[key] as Float32Array;
      x.forEach((v, i) => assert.ok(Math.abs(v - y[i]!) < 1e-5, `smoothing ${smooth}, ${key}[${i}]: ${v} vs ${y[i]}`));
    }
    // Ignored and zero-weight rows get no gradient.
    for (const r of [1, 4, 5]) for (let j = 0; j < d; j++) assert.ok((b.gh as Float32Array)[r * d + j] === 0, `row ${r}`);
  }
});

// Finite differences see through stopGradient, so these compare with the gradient it should leave.
test('stopGradient blocks one path', async () => {
  const { analytic, x, proj } = await gradCheck('stopGradient', { inputs: [f([2, 3])], f: ([v]) => op.mul(v!, op.stopGradient(op.exp(v!))), numeric: false });
  analytic[0]!.forEach((gv, k) => assert.ok(Math.abs(gv - Math.exp(x[0]![k] as number) * proj[k]!) < 1e-12, `element ${k}`));
});
test('stopGradient blocks every path', async () => {
  await gradCheck('stopGradient everywhere', { inputs: [f([2, 3])], f: ([v]) => op.exp(op.stopGradient(v!)), noGrad: [0] });
});

test('gradient of dropout equals its mask, fixed by the key', async () => {
  const p = 0.3;
  const { analytic, proj } = await gradCheck('dropout', {
    inputs: [f([4, 8], positive)],
    f: ([x]) => op.dropout(x!, p, true),
    feeds: { dropout_key: toOrt(Uint32Array.of(12345), []) },
  });
  // The gradient of Σ dropout(x)·R is mask·R, with mask ∈ {0, 1/(1−p)}.
  const mask = Array.from(analytic[0]!, (gv, k) => gv / proj[k]!);
  for (const m of mask) assert.ok(Math.abs(m) < 1e-12 || Math.abs(m - 1 / (1 - p)) < 1e-9, `mask value ${m}`);
  const dropped = mask.filter((m) => Math.abs(m) < 1e-12).length;
  assert.ok(dropped > 0 && dropped < mask.length, `dropped ${dropped} of ${mask.length}`);
});

test('dropout masks: rate p, independent neighbours, a fresh mask for each key', async () => {
  const p = 0.1, n = 200_000, T = 200;
  const masks: Float32Array[] = [];
  for (const key of [7, 8]) {
    const g = new Graph();
    const out = await runGraph(g, { y: op.dropout(g.input('x', 'float32', [n / T, T]), p, true) }, {
      x: { data: new Float32Array(n).fill(1), dims: [n / T, T] }, dropout_key: { data: Uint32Array.of(key), dims: [] },
    });
    masks.push(out.y as Float32Array);
  }
  const [a, b] = masks as [Float32Array, Float32Array];
  const off = (m: Float32Array, i: number) => m[i] === 0;
  for (const v of a) assert.ok(v === 0 || Math.abs(v - 1 / (1 - p)) < 1e-6, `mask value ${v}`);
  const rate = (f: (i: number) => boolean, m: number) => { let c = 0; for (let i = 0; i < m; i++) if (f(i)) c++; return c / m; };
  // Binomial standard errors at these sizes: 0.0007 for the rate, 0.0002 for the pairs; each bound is about five.
  assert.ok(Math.abs(rate((i) => off(a, i), n) - p) < 0.003, 'drop rate');
  assert.ok(Math.abs(rate((i) => off(a, i) && off(a, i + 1), n - 1) - p * p) < 0.0012, 'adjacent elements independent');
  assert.ok(Math.abs(rate((i) => off(a, i) && off(a, i + T), n - T) - p * p) < 0.0012, 'adjacent rows independent');
  assert.ok(Math.abs(rate((i) => off(a, i) && off(b, i), n) - p * p) < 0.0012, 'consecutive keys independent');
});

// ---- errors ---------------------------------------------------------------------------------------------
function shapeErrorOf(fn: () => unknown): GenrecError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof GenrecError, `expected GenrecError, got ${String(e)}`);
    assert.equal(e.code, 'GENREC_E_SHAPE');
    return e;
  }
  assert.fail('expected a shape error');
}

test('a mismatched add throws GENREC_E_SHAPE naming both shapes', () => {
  const g = new Graph();
  const e = shapeErrorOf(() => op.add(g.input('a', 'float32', [2, 3]), g.input('b', 'float32', [4])));
  assert.match(e.message, /\[2, 3\]/);
  assert.match(e.message, /\[4\]/);
});

test('a mismatched matmul throws GENREC_E_SHAPE naming both shapes', () => {
  const g = new Graph();
  const e = shapeErrorOf(() => g.input('a', 'float32', ['batch', 3]).matmul(g.input('b', 'float32', [4, 5])));
  assert.match(e.message, /\[batch, 3\]/);
  assert.match(e.message, /\[4, 5\]/);
});
