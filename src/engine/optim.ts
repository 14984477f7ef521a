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

/** Scale all gradients so their global L2 norm is at most maxNorm; also returns the (pre-clip) norm. */
export function clipGlobalNorm(grads: Tensor[], maxNorm: number): { grads: Tensor[]; norm: Tensor } {
  const sq = grads.map((g) => op.sum(op.mul(g, g)));
  const total = sq.reduce((a, b) => op.add(a, b));
  const norm = op.sqrt(total);
  const scale = op.minimum(op.div(maxNorm, op.add(norm, 1e-6)), 1);
  return { grads: grads.map((g) => op.mul(g, scale)), norm };
}

export function buildOptimizer(g: Graph, cfg: OptimizerConfig, params: Parameter[], paramTensors: Tensor[], grads: Tensor[]): OptimizerGraph {
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
    params.forEach((p, i) => {
      const gr = grads[i]!;
      const m = op.add(op.mul(slot('adam_m', p), b1), op.mul(gr, 1 - b1));
      const v = op.add(op.mul(slot('adam_v', p), b2), op.mul(op.mul(gr, gr), 1 - b2));
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
    let gr = grads[i]!;
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
