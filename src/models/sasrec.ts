/**
 * SASRec (Kang & McAuley 2018) trained with full softmax cross-entropy over the whole catalogue — the
 * strong form of the baseline ("CE-SASRec"). Item embedding (+ a padding row 0) plus learned positions,
 * pre-norm causal transformer blocks that also mask padded keys, a final norm, and logits against the
 * tied item table.
 *
 * Tokens are item id + 1 with 0 = padding, left-padded (the data layer's SequenceBatcher), so the most
 * recent event always sits at the last position: inference reads the hidden state there.
 *
 * Training computes logits only at positions that have a target: most positions of short histories are
 * padding, and the [positions × catalogue] logits dominate the step's cost.
 */
import {
  Embedding, GenrecError, Graph, LayerNorm, Module, Parameter, TrainStep, paramInputName, createSession, emit, exportOnnx, op, toOrt,
  type Feed, type OptimizerConfig, type RuntimeOptions, type Tensor, type TypedData,
} from '../engine/index.js';
import type { SequenceBatch } from '../data/batches.js';
import { Block, causalBias, causalMask, type BlockConfig } from './layers.js';

export interface SasRecConfig {
  /** Catalogue size; the token vocabulary is numItems + 1 (0 = padding). */
  numItems: number;
  /** Context length T (positions). */
  maxLen: number;
  dModel: number;
  nHead: number;
  nLayer: number;
  /** MLP hidden width; default 4·dModel. */
  dFF?: number;
  /** Dropout on the input embedding and inside the blocks. */
  dropout: number;
  /** Multiply item embeddings by √d before adding positions (as the original SASRec); default true. */
  embScale?: boolean;
  norm?: 'layer' | 'rms';
  mlp?: 'gelu' | 'swiglu';
  /** Std of the item-embedding init; default 1/√d (so √d-scaled embeddings start at unit scale). */
  embStd?: number;
  /** Dropout on attention probabilities; default `dropout`. Costly at long histories ([B, H, T, T] masks). */
  attnDropout?: number;
  /** Use the fused output-layer + cross-entropy backward (default true; false = engine's crossEntropy). */
  fusedLoss?: boolean;
}

export class SasRec extends Module {
  readonly item: Embedding;
  readonly pos: Parameter;
  readonly blocks: Block[];
  readonly norm: LayerNorm;

  constructor(readonly c: SasRecConfig) {
    super();
    if (c.dModel % c.nHead !== 0) throw new GenrecError('GENREC_E_CONFIG', `dModel ${c.dModel} is not divisible by nHead ${c.nHead}`, 'pick a head count that divides dModel');
    this.item = new Embedding(c.numItems + 1, c.dModel, { std: c.embStd ?? 1 / Math.sqrt(c.dModel) });
    this.pos = new Parameter([c.maxLen, c.dModel], { init: { kind: 'normal', std: 0.02 } });
    const bc: BlockConfig = { dModel: c.dModel, nHead: c.nHead, dFF: c.dFF ?? 4 * c.dModel, norm: c.norm ?? 'layer', mlp: c.mlp ?? 'gelu', dropout: c.dropout };
    this.blocks = Array.from({ length: c.nLayer }, () => new Block(bc));
    this.norm = new LayerNorm(c.dModel);
  }

  /** tokens [B, T] int32 → hidden states [B, T, d]. */
  hidden(tokens: Tensor): Tensor {
    const g = tokens.graph;
    const [B, T] = tokens.shape as [number, number];
    if (T !== this.c.maxLen) throw new GenrecError('GENREC_E_SHAPE', `SASRec was built for ${this.c.maxLen} positions, got ${T}`, 'batch histories with the model\'s maxLen');
    let x = this.item.forward(tokens);
    if (this.c.embScale ?? true) x = x.mul(Math.sqrt(this.c.dModel));
    x = op.dropout(x.add(this.pos.on(g)), this.c.dropout, g.training);
    // Causal mask plus key padding: a real position never attends to padding.
    const padBias = op.where(op.equal(tokens, g.scalar(0, 'int32')), -1e9, 0).reshape([B, 1, 1, T]);
    const mask = causalBias(g, [padBias, causalMask(g, T)], T);
    for (const b of this.blocks) x = b.forward(x, mask);
    return this.norm.forward(x);
  }

  /** The item rows of the tied table [numItems, d] (row 0, padding, dropped). */
  itemTable(g: Graph): Tensor {
    return op.slice(this.item.table(g), 0, 1, this.c.numItems + 1);
  }

  /**
   * The training loss graph: inputs `tokens` [B, T], `positions` [n] (flat b·T + t indices of positions
   * with a target) and `targets` [n] (item ids, -1 = ignore). n is dynamic so a batch can be cut to its
   * real positions (rounded up to a bucket).
   */
  buildLoss(g: Graph, batchSize: number): Tensor {
    const T = this.c.maxLen, d = this.c.dModel;
    const tokens = g.input('tokens', 'int32', [batchSize, T]);
    const positions = g.input('positions', 'int32', ['n']);
    const targets = g.input('targets', 'int32', ['n']);
    const h = op.gather(this.hidden(tokens).reshape([batchSize * T, d]), positions, 0);
    if (this.c.fusedLoss === false) return op.crossEntropy(op.gemm(h, this.itemTable(g), false, true), targets, { ignoreIndex: -1 });
    return op.linearCrossEntropy(h, this.itemTable(g), targets, { ignoreIndex: -1 });
  }

  /**
   * The inference graph: `tokens` [B, T] (and `seen` [B, S] tokens to exclude, 0 = none) →
   * `include`/`exclude` top-k item ids [B, k] with their scores, or, with k = 0, `scores` [B, numItems].
   */
  buildInference(g: Graph, batchSize: number, k: number): Record<string, Tensor> {
    const T = this.c.maxLen, d = this.c.dModel, V = this.c.numItems + 1;
    const tokens = g.input('tokens', 'int32', [batchSize, T]);
    const last = op.slice(this.hidden(tokens), 1, T - 1, T).reshape([batchSize, d]);
    if (k === 0) return { scores: op.gemm(last, this.itemTable(g), false, true) };
    // Over the full table so that padding entries of `seen` (token 0) land on the padding column.
    const full = op.gemm(last, this.item.table(g), false, true);
    const padCol = new Float32Array(V);
    padCol[0] = -Infinity;
    const base = full.add(g.constant(padCol, [1, V], 'float32'));
    const seen = g.input('seen', 'int32', [batchSize, 'S']);
    const masked = g.node('ScatterElements', [base, op.cast(seen, 'int64'), op.fullLike(seen, -Infinity, 'float32')], [['float32', base.shape]], { axis: 1 })[0]!;
    const [vi, ii] = op.topk(base, k);
    const [ve, ie] = op.topk(masked, k);
    return { include: op.cast(ii, 'int32').sub(1), include_scores: vi, exclude: op.cast(ie, 'int32').sub(1), exclude_scores: ve };
  }

  /** Standalone ONNX bytes of the inference graph (weights embedded). */
  exportInference(batchSize: number | string, k: number): Uint8Array {
    if (typeof batchSize !== 'number') throw new GenrecError('GENREC_E_CONFIG', 'SASRec export needs a fixed batch size (its key-padding mask is reshaped statically)', 'pass a number');
    return exportOnnx({ module: this, name: 'sasrec_inference', build: (g) => this.buildInference(g, batchSize, k) });
  }
}

export interface SasRecTrainOptions {
  batchSize: number;
  optimizer?: OptimizerConfig;
  clipNorm?: number;
  seed: number;
  runtime?: RuntimeOptions;
}

/** Compiles the CE training step (AdamW by default). */
export function compileSasRecStep(model: SasRec, o: SasRecTrainOptions): Promise<TrainStep> {
  return TrainStep.compile({
    module: model,
    optimizer: o.optimizer ?? { kind: 'adamw', weightDecay: 0.01 },
    ...(o.clipNorm !== undefined ? { clipNorm: o.clipNorm } : {}),
    seed: o.seed,
    ...(o.runtime ? { runtime: o.runtime } : {}),
    build: (g) => ({ loss: model.buildLoss(g, o.batchSize) }),
  });
}

/**
 * Feeds of one training batch. Positions with a target are gathered; their count is rounded up to a
 * multiple of `bucket` (padding entries point at position 0 with target -1), so ORT sees few shapes.
 */
export function sasrecFeeds(batch: SequenceBatch, bucket = 256): Record<string, Feed> {
  const { inputs, targets, batchSize, maxLen } = batch;
  const total = batchSize * maxLen;
  let n = 0;
  for (let i = 0; i < total; i++) if (targets[i] !== 0) n++;
  const nb = Math.min(total, Math.max(bucket, Math.ceil(n / bucket) * bucket));
  const pos = new Int32Array(nb), tgt = new Int32Array(nb).fill(-1);
  let w = 0;
  for (let i = 0; i < total; i++) {
    const t = targets[i]!;
    if (t !== 0) { pos[w] = i; tgt[w] = t - 1; w++; }
  }
  return {
    tokens: { data: inputs, dims: [batchSize, maxLen] },
    positions: { data: pos, dims: [nb] },
    targets: { data: tgt, dims: [nb] },
  };
}

/**
 * Inference through one ORT session whose weights are inputs, fed from the module's current
 * parameters on every call: evaluation during training needs no recompilation per epoch.
 */
export class SasRecInference {
  private constructor(
    private readonly model: SasRec,
    private readonly session: import('onnxruntime-node').InferenceSession,
    readonly batchSize: number,
    readonly k: number,
  ) {}

  /** k > 0: top-k in the graph (both variants); k = 0: the graph returns scores [B, numItems]. */
  static async create(model: SasRec, batchSize: number, k: number, runtime?: RuntimeOptions): Promise<SasRecInference> {
    model.parameters();
    const g = new Graph('sasrec_infer', false, false);
    const outs = model.buildInference(g, batchSize, k);
    const session = await createSession(emit(g, outs).bytes, runtime);
    return new SasRecInference(model, session, batchSize, k);
  }

  private paramFeeds(): Record<string, import('onnxruntime-node').Tensor> {
    const feeds: Record<string, import('onnxruntime-node').Tensor> = {};
    for (const p of this.model.parameters()) feeds[paramInputName(p.name)] = toOrt(p.data, p.shape);
    return feeds;
  }

  /** Scores [B, numItems] (k = 0 sessions). */
  async scores(tokens: Int32Array, out?: Float32Array): Promise<Float32Array> {
    const B = this.batchSize, T = this.model.c.maxLen, V = this.model.c.numItems;
    const feeds = this.paramFeeds();
    feeds.tokens = toOrt(tokens, [B, T]);
    const fetch = out ? { scores: toOrt(out, [B, V]) } : undefined;
    const res = fetch ? await this.session.run(feeds, fetch) : await this.session.run(feeds);
    return res.scores!.data as Float32Array;
  }

  /**
   * Top-k ids [B, k] with and without the `seen` tokens [B, S] (0-padded); entries whose score is
   * -Infinity (fewer than k candidates) become -1.
   */
  async topK(tokens: Int32Array, seen: Int32Array, seenWidth: number): Promise<{ include: Int32Array; exclude: Int32Array }> {
    const B = this.batchSize, T = this.model.c.maxLen;
    const feeds = this.paramFeeds();
    feeds.tokens = toOrt(tokens, [B, T]);
    feeds.seen = toOrt(seen, [B, seenWidth]);
    const res = await this.session.run(feeds);
    const fix = (ids: TypedData, scores: TypedData) => {
      const out = ids as Int32Array;
      for (let i = 0; i < out.length; i++) if (!((scores as Float32Array)[i]! > -Infinity)) out[i] = -1;
      return out;
    };
    return { include: fix(res.include!.data as TypedData, res.include_scores!.data as TypedData), exclude: fix(res.exclude!.data as TypedData, res.exclude_scores!.data as TypedData) };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
