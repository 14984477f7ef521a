/**
 * Transformer building blocks, written to read like nanoGPT: a block is `x + attn(norm(x))` then
 * `x + mlp(norm(x))`. Options cover what genrec's models need: LayerNorm or RMSNorm, GELU MLP or
 * SwiGLU, QK-norm, causal or padded attention, cross-attention to a memory.
 */
import { Module, Linear, LayerNorm, RMSNorm, op, type Tensor } from '../engine/index.js';

export interface BlockConfig {
  dModel: number;
  nHead: number;
  /** Hidden width of the MLP (default 4·dModel). */
  dFF?: number;
  norm?: 'layer' | 'rms';
  mlp?: 'gelu' | 'swiglu';
  qkNorm?: boolean;
  bias?: boolean;
  dropout?: number;
}

type Norm = LayerNorm | RMSNorm;
const makeNorm = (c: BlockConfig, dim = c.dModel): Norm => (c.norm === 'rms' ? new RMSNorm(dim) : new LayerNorm(dim, { bias: c.bias !== false }));

/** [B, T, H·dh] → [B, H, T, dh] */
export function splitHeads(x: Tensor, nHead: number): Tensor {
  const [b, t, d] = x.shape;
  return x.reshape([b!, t!, nHead, (d as number) / nHead]).transpose([0, 2, 1, 3]);
}
/** [B, H, T, dh] → [B, T, H·dh] */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, t, dh] = x.shape;
  return x.transpose([0, 2, 1, 3]).reshape([b!, t!, (h as number) * (dh as number)]);
}

/** Attention scores q·kᵀ/√dh + bias over [B, H, T, dh] tensors; `bias` is an additive mask (0 or −1e9). */
export function attentionScores(q: Tensor, k: Tensor, bias: Tensor | null): Tensor {
  const scores = q.matmul(op.transposeLast(k)).mul(1 / Math.sqrt(q.dim(-1) as number));
  return bias ? scores.add(bias) : scores;
}

/** softmax(q·kᵀ/√dh + bias)·v over [B, H, T, dh] tensors. */
export function attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | null, training: boolean, dropout = 0): Tensor {
  return op.dropout(attentionScores(q, k, bias).softmax(-1), dropout, training).matmul(v);
}

/** Additive causal mask [T, T]: 0 on and below the diagonal, −1e9 above. */
export function causalMask(g: Tensor['graph'], T: number): Tensor {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
  return g.constant(m, [T, T], 'float32');
}

export class SelfAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly qNorm: RMSNorm | null;
  readonly kNorm: RMSNorm | null;
  constructor(readonly c: BlockConfig) {
    super();
    this.qkv = new Linear(c.dModel, 3 * c.dModel, { bias: c.bias !== false });
    this.proj = new Linear(c.dModel, c.dModel, { bias: c.bias !== false });
    const dh = c.dModel / c.nHead;
    this.qNorm = c.qkNorm ? new RMSNorm(dh) : null;
    this.kNorm = c.qkNorm ? new RMSNorm(dh) : null;
  }
  forward(x: Tensor, mask: Tensor | null, lastOnly = false): Tensor {
    const d = this.c.dModel;
    let [q, k, v] = op.split(this.qkv.forward(x), -1, [d, d, d]).map((t) => splitHeads(t, this.c.nHead)) as [Tensor, Tensor, Tensor];
    // lastOnly: only the last position's query (every position still gives keys and values), and the
    // mask's last row; the output is [B, 1, d].
    if (lastOnly) [q, mask] = [lastRow(q, 2), mask && lastRow(mask, mask.rank - 2)];
    if (this.qNorm && this.kNorm) [q, k] = [this.qNorm.forward(q), this.kNorm.forward(k)];
    const y = attention(q, k, v, mask, x.graph.training, this.c.dropout);
    return op.dropout(this.proj.forward(mergeHeads(y)), this.c.dropout ?? 0, x.graph.training);
  }
}

/** x[..., T−1:T, ...] along `axis`: the last position, its axis kept. */
export function lastRow(x: Tensor, axis: number): Tensor {
  const T = x.dim(axis) as number;
  return op.slice(x, axis, T - 1, T);
}

export class MLP extends Module {
  readonly up: Linear;
  readonly gate: Linear | null;
  readonly down: Linear;
  constructor(readonly c: BlockConfig) {
    super();
    const hidden = c.dFF ?? 4 * c.dModel;
    this.up = new Linear(c.dModel, hidden, { bias: c.bias !== false });
    this.gate = c.mlp === 'swiglu' ? new Linear(c.dModel, hidden, { bias: c.bias !== false }) : null;
    this.down = new Linear(hidden, c.dModel, { bias: c.bias !== false });
  }
  forward(x: Tensor): Tensor {
    const h = this.gate ? this.gate.forward(x).silu().mul(this.up.forward(x)) : this.up.forward(x).gelu();
    return op.dropout(this.down.forward(h), this.c.dropout ?? 0, x.graph.training);
  }
}

/** Pre-norm transformer block. */
export class Block extends Module {
  readonly norm1: Norm;
  readonly attn: SelfAttention;
  readonly norm2: Norm;
  readonly mlp: MLP;
  constructor(c: BlockConfig) {
    super();
    this.norm1 = makeNorm(c);
    this.attn = new SelfAttention(c);
    this.norm2 = makeNorm(c);
    this.mlp = new MLP(c);
  }
  forward(x: Tensor, mask: Tensor | null): Tensor {
    x = x.add(this.attn.forward(this.norm1.forward(x), mask));
    return x.add(this.mlp.forward(this.norm2.forward(x)));
  }
  /**
   * The last position's output [B, 1, d] of `forward` (inference reads nothing else from the last block):
   * its query attends to every key, and the MLP runs on one row instead of T.
   */
  forwardLast(x: Tensor, mask: Tensor | null): Tensor {
    const y = lastRow(x, 1).add(this.attn.forward(this.norm1.forward(x), mask, true));
    return y.add(this.mlp.forward(this.norm2.forward(y)));
  }
}

/**
 * HSTU's block (Zhai et al. 2024, "Actions Speak Louder than Words"): one SiLU projection of the normed
 * input gives u, v, q, k; attention is pointwise — SiLU of the scores, divided by the history cap
 * `maxLen` instead of a softmax, so a user's many relevant items are not forced to share one unit of
 * attention (a constant, not the row length, so a packed training row and a left-padded request of
 * another length compute the same thing); the normed attention output gates u, and one projection
 * returns to the residual stream. No MLP: a block has 5·d² weights against 16·d² for `Block` with
 * SwiGLU. `bias` is the same additive mask as `Block`'s: SiLU(s − 1e9) is exactly 0, so masked keys
 * drop out with no separate multiplicative mask.
 */
export class HstuBlock extends Module {
  readonly norm: Norm;
  readonly uvqk: Linear;
  readonly qNorm: RMSNorm | null;
  readonly kNorm: RMSNorm | null;
  readonly attnNorm: Norm;
  readonly proj: Linear;
  constructor(readonly c: BlockConfig, readonly maxLen: number) {
    super();
    this.norm = makeNorm(c);
    this.uvqk = new Linear(c.dModel, 4 * c.dModel, { bias: c.bias !== false });
    const dh = c.dModel / c.nHead;
    this.qNorm = c.qkNorm ? new RMSNorm(dh) : null;
    this.kNorm = c.qkNorm ? new RMSNorm(dh) : null;
    this.attnNorm = makeNorm(c);
    this.proj = new Linear(c.dModel, c.dModel, { bias: c.bias !== false });
  }
  /** The last position's output [B, 1, d]: every position computed, then sliced (not cut down as `Block`'s). */
  forwardLast(x: Tensor, bias: Tensor | null): Tensor {
    return lastRow(this.forward(x, bias), 1);
  }
  forward(x: Tensor, bias: Tensor | null): Tensor {
    const d = this.c.dModel, training = x.graph.training, p = this.c.dropout ?? 0;
    const [u, v, q0, k0] = op.split(this.uvqk.forward(this.norm.forward(x)).silu(), -1, [d, d, d, d]) as [Tensor, Tensor, Tensor, Tensor];
    let [q, k] = [splitHeads(q0, this.c.nHead), splitHeads(k0, this.c.nHead)];
    if (this.qNorm && this.kNorm) [q, k] = [this.qNorm.forward(q), this.kNorm.forward(k)];
    const att = op.dropout(attentionScores(q, k, bias).silu().mul(1 / this.maxLen), p, training);
    const y = this.attnNorm.forward(mergeHeads(att.matmul(splitHeads(v, this.c.nHead)))).mul(u);
    return x.add(op.dropout(this.proj.forward(y), p, training));
  }
}
