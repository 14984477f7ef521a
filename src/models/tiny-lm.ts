/**
 * A small GPT-style language model over integer tokens: token + learned position embeddings, pre-norm
 * blocks, final norm, logits through the tied token embedding. It is the engine benchmark's
 * transformer and the smallest end-to-end check that the layers train.
 */
import { Embedding, LayerNorm, Module, Parameter, op, type Tensor } from '../engine/index.js';
import { Block, causalMask, type BlockConfig } from './layers.js';

export interface TinyLMConfig extends BlockConfig {
  vocab: number;
  maxLen: number;
  nLayer: number;
}

export class TinyLM extends Module {
  readonly tok: Embedding;
  readonly pos: Parameter;
  readonly blocks: Block[];
  readonly norm: LayerNorm;
  constructor(readonly c: TinyLMConfig) {
    super();
    this.tok = new Embedding(c.vocab, c.dModel);
    this.pos = new Parameter([c.maxLen, c.dModel], { init: { kind: 'normal', std: 0.02 } });
    this.blocks = Array.from({ length: c.nLayer }, () => new Block(c));
    this.norm = new LayerNorm(c.dModel);
  }

  /** ids [B, T] → logits [B·T, vocab] */
  forward(ids: Tensor): Tensor {
    const g = ids.graph;
    const T = ids.dim(1) as number;
    let x = this.tok.forward(ids).add(op.slice(this.pos.on(g), 0, 0, T));
    const mask = causalMask(g, T);
    for (const b of this.blocks) x = b.forward(x, mask);
    return this.norm.forward(x).reshape([-1, this.c.dModel]).matmul(op.transposeLast(this.tok.table(g)));
  }

  /** Matmul FLOPs of one training step (forward ×3), the convention of the engine benchmark. */
  static stepFlops(c: TinyLMConfig, batch: number, T: number): number {
    const d = c.dModel;
    return 3 * batch * T * 2 * (c.nLayer * (12 * d * d + 2 * T * d) + c.vocab * d);
  }
}
