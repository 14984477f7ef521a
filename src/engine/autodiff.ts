/**
 * Reverse-mode autodiff over the recorded graph. Each primitive op has a rule that builds its
 * input gradients from standard ONNX ops; composites with a `customGrad` are differentiated as a
 * whole. Gradients of a tensor used several times are summed.
 */
import { GenrecError } from './errors.js';
import { Tensor, isFloat, type Node, type Shape } from './graph.js';
import * as op from './ops.js';

type Rule = (node: Node, gy: Tensor, gys: readonly (Tensor | null)[]) => (Tensor | null)[];

/** Sum `g` down to `shape` over the axes that broadcasting expanded. */
export function unbroadcast(g: Tensor, shape: Shape): Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  let r = axes.length ? op.sum(g, axes, true) : g;
  for (let i = 0; i < lead; i++) r = op.squeeze(r, 0);
  return r;
}

/** Reshape to x's shape, following x's runtime shape when it has dynamic dims. */
function reshapeLike(g: Tensor, x: Tensor): Tensor {
  if (x.shape.every((d) => typeof d === 'number')) return op.reshape(g, x.shape);
  const r = g.graph.node('Reshape', [g, op.shapeOf(x)], [[g.dtype, x.shape]])[0]!;
  return r;
}

const inp = (n: Node, i: number) => n.inputs[i]!;
const out = (n: Node, i = 0) => n.outputs[i]!;

const rules: Record<string, Rule> = {
  Add: (n, g) => [unbroadcast(g, inp(n, 0).shape), unbroadcast(g, inp(n, 1).shape)],
  Sub: (n, g) => [unbroadcast(g, inp(n, 0).shape), unbroadcast(op.neg(g), inp(n, 1).shape)],
  Mul: (n, g) => [unbroadcast(op.mul(g, inp(n, 1)), inp(n, 0).shape), unbroadcast(op.mul(g, inp(n, 0)), inp(n, 1).shape)],
  Div: (n, g) => {
    const gb = op.div(g, inp(n, 1));
    return [unbroadcast(gb, inp(n, 0).shape), unbroadcast(op.neg(op.mul(gb, out(n))), inp(n, 1).shape)];
  },
  Pow: (n, g) => {
    const p = inp(n, 1);
    if (!p.constData) throw new GenrecError('GENREC_E_GRAD', 'pow: only constant exponents are differentiable', 'use exp(log(x)·y) for tensor exponents');
    const e = Number(p.constData[0]);
    return [op.mul(g, op.mul(op.pow(inp(n, 0), e - 1), e)), null];
  },
  Neg: (_n, g) => [op.neg(g)],
  Exp: (n, g) => [op.mul(g, out(n))],
  Log: (n, g) => [op.div(g, inp(n, 0))],
  Sqrt: (n, g) => [op.div(op.mul(g, 0.5), out(n))],
  Reciprocal: (n, g) => [op.neg(op.mul(g, op.mul(out(n), out(n))))],
  Abs: (n, g) => [op.mul(g, op.sign(inp(n, 0)))],
  Relu: (n, g) => [op.where(op.greater(out(n), 0), g, 0)],
  Sigmoid: (n, g) => {
    const y = out(n);
    return [op.mul(g, op.mul(y, op.sub(1, y)))];
  },
  Tanh: (n, g) => {
    const y = out(n);
    return [op.mul(g, op.sub(1, op.mul(y, y)))];
  },
  Erf: (n, g) => {
    const x = inp(n, 0);
    return [op.mul(g, op.mul(op.exp(op.neg(op.mul(x, x))), 2 / Math.sqrt(Math.PI)))];
  },
  // d/dx x·Φ(x) = Φ(x) + x·φ(x), with Φ recovered from the forward output: Φ = y / x is unstable at 0,
  // so it is recomputed with Erf.
  Gelu: (n, g) => {
    const x = inp(n, 0);
    const cdf = op.add(op.mul(op.erf(op.mul(x, Math.SQRT1_2)), 0.5), 0.5);
    const pdfx = op.mul(x, op.mul(op.exp(op.mul(op.mul(x, x), -0.5)), 1 / Math.sqrt(2 * Math.PI)));
    return [op.mul(g, op.add(cdf, pdfx))];
  },
  Softmax: (n, g) => {
    const y = out(n);
    const axis = n.attrs.axis as number;
    return [op.mul(y, op.sub(g, op.sum(op.mul(g, y), axis, true)))];
  },
  LogSoftmax: (n, g) => {
    const axis = n.attrs.axis as number;
    return [op.sub(g, op.mul(op.exp(out(n)), op.sum(g, axis, true)))];
  },
  ReduceSum: (n, g) => [expandBack(n, g)],
  ReduceMean: (n, g) => {
    const x = inp(n, 0);
    const axes = Array.from(inp(n, 1).constData as BigInt64Array, Number);
    const count = axes.reduce((s, a) => s * (x.shape[a] as number), 1);
    if (!Number.isFinite(count)) throw new GenrecError('GENREC_E_GRAD', 'mean over a dynamic dim is not differentiable here', 'use static shapes in training graphs');
    return [op.mul(expandBack(n, g), 1 / count)];
  },
  ReduceMax: (n, g) => {
    const x = inp(n, 0);
    const mask = op.cast(op.equal(x, keepReduced(n, out(n))), x.dtype);
    return [op.mul(mask, keepReduced(n, g))];
  },
  Reshape: (n, g) => [reshapeLike(g, inp(n, 0)), null],
  Unsqueeze: (n, g) => [reshapeLike(g, inp(n, 0)), null],
  Squeeze: (n, g) => [reshapeLike(g, inp(n, 0)), null],
  Identity: (_n, g) => [g],
  Transpose: (n, g) => {
    const perm = n.attrs.perm as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [op.transpose(g, inv)];
  },
  Concat: (n, g) => {
    const axis = n.attrs.axis as number;
    let start = 0;
    return n.inputs.map((x) => {
      const len = x!.shape[axis];
      if (typeof len !== 'number') throw new GenrecError('GENREC_E_GRAD', 'concat over a dynamic dim is not differentiable here', 'use static shapes in training graphs');
      const piece = op.slice(g, axis, start, start + len);
      start += len;
      return piece;
    });
  },
  // Split: concat the pieces' gradients, zeros for pieces that got none.
  Split: (n, _g, gys) => [op.concat(n.outputs.map((o, i) => gys[i] ?? op.zerosLike(o)), n.attrs.axis as number), null],
  Slice: (n, g) => {
    const x = inp(n, 0);
    const axis = Number((inp(n, 3).constData as BigInt64Array)[0]);
    const dim = x.shape[axis];
    const start0 = Number((inp(n, 1).constData as BigInt64Array)[0]);
    if (typeof dim !== 'number') throw new GenrecError('GENREC_E_GRAD', 'slice over a dynamic dim is not differentiable here', 'use static shapes in training graphs');
    const start = Math.max(0, start0 < 0 ? dim + start0 : Math.min(start0, dim));
    const after = dim - start - (g.shape[axis] as number);
    const pads = new Array<number>(2 * x.rank).fill(0);
    pads[axis] = start;
    pads[x.rank + axis] = after;
    return [g.graph.node('Pad', [g, g.graph.ints(pads)], [[g.dtype, x.shape]])[0]!, null, null, null];
  },
  Gather: (n, g) => {
    const [data, idx] = [inp(n, 0), inp(n, 1)];
    if ((n.attrs.axis as number) !== 0) throw new GenrecError('GENREC_E_GRAD', 'gather is differentiable on axis 0 only', 'transpose so the gathered axis is first');
    return [op.scatterAdd(op.zerosLike(data), idx, g), null];
  },
  GatherElements: (n, g) => {
    const [data, idx] = [inp(n, 0), inp(n, 1)];
    return [g.graph.node('ScatterElements', [op.zerosLike(data), idx, g], [[g.dtype, data.shape]], { axis: n.attrs.axis as number, reduction: 'add' })[0]!, null];
  },
  Where: (n, g) => {
    const [c, a, b] = [inp(n, 0), inp(n, 1), inp(n, 2)];
    return [null, unbroadcast(op.where(c, g, 0), a.shape), unbroadcast(op.where(c, 0, g), b.shape)];
  },
  Expand: (n, g) => [unbroadcast(g, inp(n, 0).shape), null],
  Cast: (n, g) => [isFloat(inp(n, 0).dtype) ? op.cast(g, inp(n, 0).dtype) : null],
  Max: (n, g) => {
    const [a, b] = [inp(n, 0), inp(n, 1)];
    const takeA = op.greaterOrEqual(a, b);
    return [unbroadcast(op.where(takeA, g, 0), a.shape), unbroadcast(op.where(takeA, 0, g), b.shape)];
  },
  Min: (n, g) => {
    const [a, b] = [inp(n, 0), inp(n, 1)];
    const takeA = op.greaterOrEqual(b, a);
    return [unbroadcast(op.where(takeA, g, 0), a.shape), unbroadcast(op.where(takeA, 0, g), b.shape)];
  },
  MatMul: (n, g) => matmulGrad(inp(n, 0), inp(n, 1), g),
  Gemm: (n, g) => {
    const [a, b] = [inp(n, 0), inp(n, 1)];
    const ta = n.attrs.transA === 1, tb = n.attrs.transB === 1;
    const ga = ta ? op.gemm(b, g, tb, true) : op.gemm(g, b, false, !tb);
    const gb = tb ? op.gemm(g, a, true, ta) : op.gemm(a, g, !ta, false);
    return [ga, gb];
  },
  // Fused forward; backward from the saved mean and 1/std outputs (axis −1):
  // dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), ĝ = g·γ, x̂ = (x − μ)·r.
  LayerNormalization: (n, g) => {
    const [x, gamma, beta] = [inp(n, 0), inp(n, 1), n.inputs[2] ?? null];
    const xhat = op.mul(op.sub(x, out(n, 1)), out(n, 2));
    const gh = op.mul(g, gamma);
    const d = x.dim(-1) as number;
    const m1 = op.mul(op.sum(gh, -1, true), 1 / d);
    const m2 = op.mul(op.sum(op.mul(gh, xhat), -1, true), 1 / d);
    const dx = op.mul(op.sub(op.sub(gh, m1), op.mul(xhat, m2)), out(n, 2));
    const lead = x.shape.map((_, i) => i).slice(0, -1);
    const dgamma = op.sum(op.mul(g, xhat), lead);
    return [dx, dgamma, beta ? op.sum(g, lead) : null];
  },
};

/** Gradients of a (possibly batched) matmul; 3-D × 2-D (a linear layer) folds the batch into one GEMM. */
function matmulGrad(a: Tensor, b: Tensor, g: Tensor): (Tensor | null)[] {
  if (b.rank === 2 && a.rank > 2) {
    const k = a.dim(-1), m = g.dim(-1);
    const a2 = op.reshape(a, [-1, k]);
    const g2 = op.reshape(g, [-1, m]);
    const gb = op.gemm(a2, g2, true, false);
    const ga = op.matmul(g, op.transposeLast(b));
    return [ga, gb];
  }
  if (a.rank === 2 && b.rank === 2) return [op.gemm(g, b, false, true), op.gemm(a, g, true, false)];
  const ga = op.matmul(g, op.transposeLast(b));
  const gb = op.matmul(op.transposeLast(a), g);
  return [unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)];
}

/**
 * A reduction's output (or its gradient) with the reduced axes put back as size-1 dims. Unsqueeze, not
 * Reshape: a Reshape target would have to spell dynamic dims as 0 ("copy the input dim at this index"),
 * which names the wrong dim once a reduced axis precedes a dynamic one.
 */
function keepReduced(n: Node, g: Tensor): Tensor {
  if (n.attrs.keepdims === 1) return g;
  const axes = Array.from(inp(n, 1).constData as BigInt64Array, Number);
  const shape = inp(n, 0).shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return g.graph.node('Unsqueeze', [g, g.graph.ints(axes)], [[g.dtype, shape]])[0]!;
}

/** Gradient of a sum: g with the reduced axes kept, broadcast back to x. */
function expandBack(n: Node, g: Tensor): Tensor {
  const x = inp(n, 0);
  const kept = keepReduced(n, g);
  if (x.shape.every((d) => typeof d === 'number')) return op.expand(kept, x.shape as number[]);
  return x.graph.node('Expand', [kept, op.shapeOf(x)], [[g.dtype, x.shape]])[0]!;
}

interface GradNode {
  inputs: readonly (Tensor | null)[];
  outputs: readonly Tensor[];
  order: number;
  backward: (gys: (Tensor | null)[]) => (Tensor | null)[];
}

/**
 * Gradients of scalar `loss` with respect to each of `wrt` (null where wrt does not affect loss).
 */
export function gradients(loss: Tensor, wrt: readonly Tensor[]): (Tensor | null)[] {
  if (loss.size !== 1) throw new GenrecError('GENREC_E_GRAD', `loss must be a scalar, got shape [${loss.shape}]`, 'reduce the loss with sum() or mean()');
  const gradNodeOf = (t: Tensor): GradNode | null => {
    const custom = op.getCustomGrad(t);
    if (custom) return { inputs: custom.inputs, outputs: [t], order: t.id, backward: (gys) => custom.backward(gys[0]!) };
    const n = t.producer;
    if (!n) return null;
    const rule = rules[n.op];
    return {
      inputs: n.inputs,
      outputs: n.outputs,
      order: Math.max(...n.outputs.map((o) => o.id)),
      backward: (gys) => {
        if (!rule) throw new GenrecError('GENREC_E_GRAD', `no gradient rule for op ${n.op}`, 'wrap its input in stopGradient() or add a rule in autodiff.ts');
        const first = gys[0] ?? null;
        if (!first && n.op !== 'Split') throw new GenrecError('GENREC_E_GRAD', `gradient reaches only a secondary output of ${n.op}`, 'use the primary output');
        return rule(n, first!, gys);
      },
    };
  };

  // Collect nodes between loss and wrt (backward reachability from loss, pruned at noGrad tensors).
  const needs = new Set(wrt.map((t) => t.id));
  const seen = new Map<Tensor, GradNode>();
  const dependsOnWrt = new Map<number, boolean>();
  const visit = (t: Tensor): boolean => {
    const cached = dependsOnWrt.get(t.id);
    if (cached !== undefined) return cached;
    dependsOnWrt.set(t.id, false);
    let dep = needs.has(t.id);
    if (!t.noGrad) {
      const gn = gradNodeOf(t);
      if (gn) {
        for (const i of gn.inputs) if (i && visit(i)) dep = true;
        if (dep) seen.set(t, gn);
      }
    }
    dependsOnWrt.set(t.id, dep);
    return dep;
  };
  visit(loss);

  const unique = new Map<number, GradNode>();
  for (const gn of seen.values()) if (!unique.has(gn.order)) unique.set(gn.order, gn);
  const order = [...unique.values()].sort((p, q) => q.order - p.order);

  const grads = new Map<number, Tensor>();
  const accumulate = (t: Tensor, g: Tensor) => {
    const prev = grads.get(t.id);
    grads.set(t.id, prev ? op.add(prev, g) : g);
  };
  grads.set(loss.id, loss.shape.length ? op.fullLike(loss, 1) : loss.graph.scalar(1, loss.dtype));
  for (const gn of order) {
    const gys = gn.outputs.map((o) => grads.get(o.id) ?? null);
    if (gys.every((x) => x === null)) continue;
    const gxs = gn.backward(gys);
    gn.inputs.forEach((x, i) => {
      const gx = gxs[i];
      if (x && gx && dependsOnWrt.get(x.id) && !x.noGrad) accumulate(x, gx);
    });
  }
  return wrt.map((t) => grads.get(t.id) ?? null);
}
