/**
 * Modules and parameters, in the PyTorch/nanoGPT style: a model is a tree of `Module`s whose fields
 * hold `Parameter`s and child modules; names come from the field path (`blocks.0.attn.qkv.weight`).
 * A module's forward takes and returns graph tensors, so the same module builds the training graph
 * (parameters as inputs, updated in-graph) and the exported inference graph (weights embedded).
 */
import { GenrecError } from './errors.js';
import type { Graph, Tensor } from './graph.js';
import { Rng, hashString } from './random.js';

export type Init =
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; bound: number }
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'constant'; value: number };

export interface ParameterOptions {
  init?: Init;
  /** Decoupled weight decay applies (matrices and embeddings yes; biases and norm gains no). */
  decay?: boolean;
  trainable?: boolean;
}

/** Graph input name of a parameter: namespaced so it never collides with a model's data inputs. */
export const paramInputName = (name: string) => `param.${name}`;

export class Parameter {
  name = '';
  data: Float32Array;
  readonly init: Init;
  readonly decay: boolean;
  readonly trainable: boolean;

  constructor(readonly shape: readonly number[], opts: ParameterOptions = {}) {
    this.init = opts.init ?? { kind: 'zeros' };
    this.decay = opts.decay ?? shape.length >= 2;
    this.trainable = opts.trainable ?? true;
    this.data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  }

  get size(): number { return this.data.length; }

  /** This parameter as a tensor of graph g: a graph input when training, a constant when exporting. */
  on(g: Graph): Tensor {
    if (!this.name) throw new GenrecError('GENREC_E_MODULE', 'parameter has no name yet', 'call model.parameters() (or initialize()) on the root module before building a graph');
    return g.bind(this, () => {
      if (g.embedWeights) {
        const t = g.constant(this.data, this.shape, 'float32');
        t.inputName = this.name;
        return t;
      }
      return g.input(paramInputName(this.name), 'float32', this.shape);
    });
  }

  /** Fill from the init spec with a stream derived from (seed, name): independent of creation order. */
  reset(seed: number): void {
    const rng = new Rng(hashString(this.name, seed >>> 0));
    const d = this.data, init = this.init;
    switch (init.kind) {
      case 'zeros': d.fill(0); break;
      case 'ones': d.fill(1); break;
      case 'constant': d.fill(init.value); break;
      case 'normal': for (let i = 0; i < d.length; i++) d[i] = rng.normal() * init.std; break;
      case 'uniform': for (let i = 0; i < d.length; i++) d[i] = (rng.next() * 2 - 1) * init.bound; break;
    }
  }
}

export abstract class Module {
  /** Named parameters of this subtree, in field order; assigns dotted names on first call. */
  parameters(prefix = ''): Parameter[] {
    const out: Parameter[] = [];
    const walk = (v: unknown, path: string) => {
      if (v instanceof Parameter) {
        if (!v.name) v.name = path;
        out.push(v);
      } else if (v instanceof Module) {
        for (const [k, child] of Object.entries(v)) walk(child, path ? `${path}.${k}` : k);
      } else if (Array.isArray(v)) {
        v.forEach((c, i) => walk(c, `${path}.${i}`));
      }
    };
    for (const [k, v] of Object.entries(this)) walk(v, prefix ? `${prefix}.${k}` : k);
    return out;
  }

  /** Deterministic initialisation of every parameter from one seed. */
  initialize(seed: number): this {
    for (const p of this.parameters()) p.reset(seed);
    return this;
  }

  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.size, 0);
  }
}
