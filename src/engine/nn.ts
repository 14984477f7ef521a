/** Basic layers shared by every model: linear, embedding, layer norm, RMS norm. */
import type { Tensor } from './graph.js';
import { Module, Parameter } from './module.js';
import * as op from './ops.js';

export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  /** y = x·W + b with W stored [in, out]; init N(0, std) (default 1/√in). */
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean; std?: number } = {}) {
    super();
    this.weight = new Parameter([inFeatures, outFeatures], { init: { kind: 'normal', std: opts.std ?? 1 / Math.sqrt(inFeatures) } });
    this.bias = opts.bias === false ? null : new Parameter([outFeatures], { init: { kind: 'zeros' }, decay: false });
  }
  forward(x: Tensor): Tensor {
    const y = x.rank === 2 ? op.gemm(x, this.weight.on(x.graph)) : op.matmul(x, this.weight.on(x.graph));
    return this.bias ? y.add(this.bias.on(x.graph)) : y;
  }
}

export class Embedding extends Module {
  readonly weight: Parameter;
  constructor(readonly count: number, readonly dim: number, opts: { std?: number } = {}) {
    super();
    this.weight = new Parameter([count, dim], { init: { kind: 'normal', std: opts.std ?? 0.02 } });
  }
  forward(ids: Tensor): Tensor {
    return op.gather(this.weight.on(ids.graph), ids, 0);
  }
  /** The table as a tensor (for weight tying: logits = h · Eᵀ). */
  table(g: Tensor['graph']): Tensor {
    return this.weight.on(g);
  }
}

export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(readonly dim: number, opts: { bias?: boolean; eps?: number } = {}) {
    super();
    this.weight = new Parameter([dim], { init: { kind: 'ones' }, decay: false });
    this.bias = opts.bias === false ? null : new Parameter([dim], { init: { kind: 'zeros' }, decay: false });
    this.eps = opts.eps ?? 1e-5;
  }
  private readonly eps: number;
  forward(x: Tensor): Tensor {
    return op.layerNorm(x, this.weight.on(x.graph), this.bias ? this.bias.on(x.graph) : null, this.eps);
  }
}

export class RMSNorm extends Module {
  readonly weight: Parameter;
  constructor(readonly dim: number, private readonly eps = 1e-6) {
    super();
    this.weight = new Parameter([dim], { init: { kind: 'ones' }, decay: false });
  }
  forward(x: Tensor): Tensor {
    return op.rmsNorm(x, this.weight.on(x.graph), this.eps);
  }
}
