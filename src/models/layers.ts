/**
 * Transformer building blocks, written to read like nanoGPT: a block is `x + attn(norm(x))` then
 * `x + mlp(norm(x))`. Options cover what genrec's models need: LayerNorm or RMSNorm, GELU MLP or
 * SwiGLU, QK-norm, causal or padded attention, cross-attention to a memory.
 */
import { Module, Linear, LayerNorm, RMSNorm, op, type Graph, type Tensor } from '../engine/index.js';

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

/** softmax(q·kᵀ/√dh + bias)·v over [B, H, T, dh] tensors; a `CausalChunks` bias computes it chunk by chunk. */
export function attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | CausalChunks | null, training: boolean, dropout = 0, piece?: op.DropoutPiece): Tensor {
  if (bias instanceof CausalChunks) {
    // One dropout site for the whole attention: each chunk draws its elements' masks by their place in the
    // full [B, H, T, T] probabilities, so the chunks drop exactly what the unchunked attention would.
    const site = training && dropout > 0 ? op.dropoutSite(q.graph) : 0;
    const [B, H] = q.shape as number[];
    const upTo = (x: Tensor, end: number) => (end === x.dim(2) ? x : op.slice(x, 2, 0, end));
    return op.concat(bias.parts.map((part) => {
      const drop = site ? { site, index: bias.dropoutIndex(part, B!, H!) } : undefined;
      return attention(op.slice(q, 2, part.start, part.end), upTo(k, part.end), upTo(v, part.end), part.bias, training, dropout, drop);
    }), 2);
  }
  return op.dropout(attentionScores(q, k, bias).softmax(-1), dropout, training, piece).matmul(v);
}

/** Query rows per chunk of a training step's causal attention (docs/results.md section 35). */
export const ATTENTION_CHUNK = 50;

/**
 * The causal attention bias whose summands are `terms` (last two dims [T, T] or broadcast): in query
 * chunks of ATTENTION_CHUNK rows in a training graph long enough to have two, else their sum.
 */
export function causalBias(g: Graph, terms: Tensor[], T: number): Tensor | CausalChunks {
  const n = g.training ? Math.round(T / ATTENTION_CHUNK) : 1;
  return n > 1 ? new CausalChunks(terms, T, n) : terms.reduce((a, b) => a.add(b));
}

/**
 * A causal attention bias cut into query chunks: chunk [start, end)'s queries see keys [0, end) only.
 * A causal bias is −1e9 above the diagonal, so the blocks a chunk skips would have had softmax weight 0:
 * the same attention for (n + 1)/2n of the score work (5/8 at n = 4). At ml-1m's 200 positions the
 * [B, H, T, T] scores, their softmax, dropout and gradients were about a quarter of a training step
 * (docs/results.md section 35). `terms` are the bias's summands, each with [T, T] (or 1 where it
 * broadcasts) as its last two dims; a chunk's bias is the sum of their slices, built once for all blocks.
 * (A query that sees no key at all, e.g. left padding, averages different keys than unchunked; nothing
 * reads it.)
 */
export class CausalChunks {
  readonly parts: { start: number; end: number; bias: Tensor }[];
  constructor(terms: Tensor[], readonly T: number, n: number) {
    const size = Math.ceil(T / Math.max(1, Math.min(n, T)));
    this.parts = [];
    for (let start = 0; start < T; start += size) {
      const end = Math.min(T, start + size);
      // A term broadcast along rows or keys (size 1 there, e.g. key padding [B, 1, 1, T]) keeps that dim.
      const cut = (t: Tensor) => {
        const r = t.dim(-2) === T ? op.slice(t, t.rank - 2, start, end) : t;
        return end < T && t.dim(-1) === T ? op.slice(r, t.rank - 1, 0, end) : r;
      };
      this.parts.push({ start, end, bias: terms.map(cut).reduce((a, b) => a.add(b)) });
    }
  }
  /**
   * Flat positions in the full [B, H, T, T] probabilities of a chunk's [B, H, end − start, end] elements
   * (a constant, one per chunk, shared by every block).
   */
  dropoutIndex(part: { start: number; end: number; bias: Tensor }, B: number, H: number): Tensor {
    const key = `${B},${H},${part.start}`;
    let t = this.indices.get(key);
    if (!t) {
      const rows = part.end - part.start, cols = part.end, T = this.T, idx = new Uint32Array(B * H * rows * cols);
      for (let bh = 0, o = 0; bh < B * H; bh++) for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) idx[o++] = (bh * T + part.start + i) * T + j;
      this.indices.set(key, (t = part.bias.graph.constant(idx, [B, H, rows, cols], 'uint32')));
    }
    return t;
  }
  private readonly indices = new Map<string, Tensor>();
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
  forward(x: Tensor, mask: Tensor | CausalChunks | null, lastOnly = false): Tensor {
    const d = this.c.dModel;
    let [q, k, v] = op.split(this.qkv.forward(x), -1, [d, d, d]).map((t) => splitHeads(t, this.c.nHead)) as [Tensor, Tensor, Tensor];
    // lastOnly: only the last position's query (every position still gives keys and values), and the
    // mask's last row; the output is [B, 1, d].
    if (lastOnly) {
      if (mask instanceof CausalChunks) throw new Error('lastOnly reads one bias row: pass the whole bias, not chunks');
      [q, mask] = [lastRow(q, 2), mask && lastRow(mask, mask.rank - 2)];
    }
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
  forward(x: Tensor, mask: Tensor | CausalChunks | null): Tensor {
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
