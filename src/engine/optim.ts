/**
 * Optimizers appended to the training graph: the update runs inside the same ONNX step as forward and
 * backward. Per-step scalars (learning rate, bias corrections) are graph inputs, so schedules need no
 * recompilation.
 */
import type { Graph, Tensor } from './graph.js';
import * as op from './ops.js';
import type { Parameter } from './module.js';

export interface AdamWConfig { kind: 'adamw'; beta1?: number; beta2?: number; eps?: number; weightDecay?: number }
export interface SgdConfig { kind: 'sgd'; momentum?: number; nesterov?: boolean; weightDecay?: number }
export type OptimizerConfig = AdamWConfig | SgdConfig;

/** A per-parameter state slot (e.g. Adam's first moment) carried from step to step. */
export interface StateSlot { key: string; param: Parameter; input: Tensor; output: Tensor }

export interface OptimizerGraph {
  /** New value of each parameter. */
  updated: Map<Parameter, Tensor>;
  slots: StateSlot[];
  /** Names of scalar inputs and how to compute them from (lr, step ≥ 1). */
  scalars: Record<string, (lr: number, step: number) => number>;
}

/** Global-norm clipping of a step's gradients: their L2 norm and the factor that scales every one of them. */
export interface GradientClip {
  /** min(1, maxNorm / norm): the optimizer multiplies each gradient by it. */
  scale: Tensor;
  /** The norm before clipping. */
  norm: Tensor;
  /** Each gradient's element-wise square, which AdamW's second moment reuses. */
  squares: Tensor[];
}

/** Clip the global L2 norm of `grads` to maxNorm: the factor is applied inside the optimizer's update. */
export function clipGlobalNorm(grads: Tensor[], maxNorm: number): GradientClip {
  const squares = grads.map((g) => op.mul(g, g));
  const total = squares.map((sq) => op.sum(sq)).reduce((a, b) => op.add(a, b));
  const norm = op.sqrt(total);
  const scale = op.minimum(op.div(maxNorm, op.add(norm, 1e-6)), 1);
  return { scale, norm, squares };
}

/**
 * The update of `params` from their gradients, clipped by `clip` when given. Every pass over a parameter
 * is one ONNX node over all its elements, and with large embedding and output tables these passes are
 * about a tenth of a recommender's training step: the clip factor is folded into AdamW's scalar
 * coefficients rather than scaling each gradient, and the second moment reuses the norm's squares.
 */
export function buildOptimizer(g: Graph, cfg: OptimizerConfig, params: Parameter[], paramTensors: Tensor[], grads: Tensor[], clip?: GradientClip): OptimizerGraph {
  const updated = new Map<Parameter, Tensor>();
  const slots: StateSlot[] = [];
  const slot = (key: string, p: Parameter): Tensor => {
    const input = g.input(`${key}.${p.name}`, 'float32', p.shape);
    slots.push({ key, param: p, input, output: input });
    return input;
  };
  const setOut = (key: string, p: Parameter, t: Tensor) => {
    slots.find((s) => s.key === key && s.param === p)!.output = t;
  };

  if (cfg.kind === 'adamw') {
    const b1 = cfg.beta1 ?? 0.9, b2 = cfg.beta2 ?? 0.999, eps = cfg.eps ?? 1e-8, wd = cfg.weightDecay ?? 0.01;
    // Bias correction folded into the step size: lr_t = lr·√(1−β2ᵗ)/(1−β1ᵗ), eps_t = eps·√(1−β2ᵗ).
    const lrT = g.input('opt.lr_t', 'float32', []);
    const epsT = g.input('opt.eps_t', 'float32', []);
    const needsDecay = wd > 0 && params.some((p) => p.decay);
    const decay = needsDecay ? g.input('opt.decay', 'float32', []) : null;
    // With clipping, (1 − β1)·scale and (1 − β2)·scale² multiply the raw gradient and its square.
    const c1: Tensor | number = clip ? op.mul(clip.scale, 1 - b1) : 1 - b1;
    const c2: Tensor | number = clip ? op.mul(op.mul(clip.scale, clip.scale), 1 - b2) : 1 - b2;
    params.forEach((p, i) => {
      const gr = grads[i]!;
      const m = op.add(op.mul(slot('adam_m', p), b1), op.mul(gr, c1));
      const v = op.add(op.mul(slot('adam_v', p), b2), op.mul(clip ? clip.squares[i]! : op.mul(gr, gr), c2));
      setOut('adam_m', p, m);
      setOut('adam_v', p, v);
      const upd = op.mul(op.div(m, op.add(op.sqrt(v), epsT)), lrT);
      const base = p.decay && decay ? op.mul(paramTensors[i]!, decay) : paramTensors[i]!;
      updated.set(p, op.sub(base, upd));
    });
    return {
      updated, slots,
      scalars: {
        'opt.lr_t': (lr, t) => (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t),
        'opt.eps_t': (_lr, t) => eps * Math.sqrt(1 - b2 ** t),
        ...(needsDecay ? { 'opt.decay': (lr: number) => 1 - lr * wd } : {}),
      },
    };
  }

  const mu = cfg.momentum ?? 0, wd = cfg.weightDecay ?? 0;
  const lr = g.input('opt.lr', 'float32', []);
  params.forEach((p, i) => {
    let gr = clip ? op.mul(grads[i]!, clip.scale) : grads[i]!;
    const pt = paramTensors[i]!;
    if (wd > 0 && p.decay) gr = op.add(gr, op.mul(pt, wd));
    let step = gr;
    if (mu > 0) {
      const buf = op.add(op.mul(slot('sgd_buf', p), mu), gr);
      setOut('sgd_buf', p, buf);
      step = cfg.nesterov ? op.add(gr, op.mul(buf, mu)) : buf;
    }
    updated.set(p, op.sub(pt, op.mul(step, lr)));
  });
  return { updated, slots, scalars: { 'opt.lr': (l) => l } };
}
