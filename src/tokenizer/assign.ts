/**
 * Nearest-centroid assignment on onnxruntime: one compiled graph per (rows, levels) shape bucket, run
 * chunk by chunk over a big row-major Float32Array. A graph with `levels` > 1 is the whole residual
 * quantiser: each level picks the nearest centroid of the current residual and subtracts it, so the
 * full catalogue is encoded in a single pass with no residual buffer in JS.
 *
 * Score of centroid k for residual r: bias[k] − 2·r·c_k, where bias[k] = ‖c_k‖² + λ_k. ‖r‖² is the
 * same for every k, so the argmin is the nearest centroid when λ = 0; λ (balanced k-means) shifts
 * crowded codes away, and a dead code gets λ = +huge so it is never chosen.
 */
import { GenrecError } from '../engine/errors.js';
import { Graph, type Tensor } from '../engine/graph.js';
import { emit } from '../engine/emit.js';
import * as op from '../engine/ops.js';
import { createSession, toOrt, ort, type RuntimeOptions } from '../engine/runtime.js';

/** Rows per ORT run for bulk work; big enough to amortise the per-run overhead, small enough for cache. */
export const BULK_ROWS = 4096;
/** Rows per run for small incremental batches (a single new item should not pay for 4096 rows). */
export const SMALL_ROWS = 64;

interface Compiled {
  session: ort.InferenceSession;
  rows: number;
  levels: number;
  /** Padded input buffer for the last, partial chunk. */
  pad: Float32Array;
  codes: Int32Array;
  err: Float32Array;
  norm: Float32Array;
}

export class Assigner {
  private readonly compiled = new Map<string, Promise<Compiled>>();

  constructor(readonly dim: number, readonly k: number, private readonly runtime: RuntimeOptions = {}) {}

  private build(rows: number, levels: number): Promise<Compiled> {
    const key = `${rows}x${levels}`;
    let c = this.compiled.get(key);
    if (!c) {
      c = (async () => {
        const { dim, k } = this;
        const g = new Graph(`rq_assign_${key}`);
        const x = g.input('x', 'float32', [rows, dim]);
        let r: Tensor = x;
        const codes: Tensor[] = [];
        const errs: Tensor[] = [];
        for (let l = 0; l < levels; l++) {
          const cb = g.input(`cb${l}`, 'float32', [k, dim]);
          const bias = g.input(`bias${l}`, 'float32', [k]);
          const score = op.sub(bias, op.mul(op.gemm(r, cb, false, true), 2));
          const idx = op.argmin(score, -1);
          r = op.sub(r, op.gather(cb, idx, 0));
          codes.push(op.unsqueeze(op.cast(idx, 'int32'), -1));
          errs.push(op.unsqueeze(op.sum(op.mul(r, r), -1), -1));
        }
        const out = {
          codes: levels === 1 ? codes[0]! : op.concat(codes, 1),
          err: levels === 1 ? errs[0]! : op.concat(errs, 1),
          // ‖x‖² per row: the denominator of the relative error, and a free NaN/Inf check of the input.
          norm: op.sum(op.mul(x, x), -1),
        };
        const session = await createSession(emit(g, out).bytes, this.runtime);
        return { session, rows, levels, pad: new Float32Array(rows * dim), codes: new Int32Array(rows * levels), err: new Float32Array(rows * levels), norm: new Float32Array(rows) };
      })();
      this.compiled.set(key, c);
    }
    return c;
  }

  /**
   * Encode rows [0, n) of `x` through `levels` levels. `codebooks` holds levels × K × dim centroids,
   * `bias` levels × K scores offsets. Writes codes (n × levels) and squared residual norms after each
   * level (n × levels), and optionally ‖x‖² of each row. `onChunk(rowsDone)` reports progress.
   */
  async run(
    x: Float32Array, n: number, levels: number, codebooks: Float32Array, bias: Float32Array,
    outCodes: Int32Array, outErr: Float32Array, outNorm?: Float32Array, onChunk?: (done: number) => void,
  ): Promise<void> {
    const { dim, k } = this;
    if (x.length < n * dim) throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `expected ${n} × ${dim} values, got ${x.length}`, 'pass vectors of the tokenizer\'s dimension');
    const c = await this.build(n <= SMALL_ROWS ? SMALL_ROWS : BULK_ROWS, levels);
    const feeds: Record<string, ort.Tensor> = {};
    for (let l = 0; l < levels; l++) {
      feeds[`cb${l}`] = toOrt(codebooks.subarray(l * k * dim, (l + 1) * k * dim), [k, dim]);
      feeds[`bias${l}`] = toOrt(bias.subarray(l * k, (l + 1) * k), [k]);
    }
    const fetches = {
      codes: toOrt(c.codes, [c.rows, levels]),
      err: toOrt(c.err, [c.rows, levels]),
      norm: toOrt(c.norm, [c.rows]),
    };
    for (let start = 0; start < n; start += c.rows) {
      const m = Math.min(c.rows, n - start);
      let input: Float32Array;
      if (m === c.rows) {
        input = x.subarray(start * dim, (start + m) * dim);
      } else {
        // Pad the last chunk to the compiled shape; padded rows' outputs are ignored.
        c.pad.set(x.subarray(start * dim, (start + m) * dim));
        c.pad.fill(0, m * dim);
        input = c.pad;
      }
      feeds.x = toOrt(input, [c.rows, dim]);
      await c.session.run(feeds, fetches);
      outCodes.set(c.codes.subarray(0, m * levels), start * levels);
      outErr.set(c.err.subarray(0, m * levels), start * levels);
      outNorm?.set(c.norm.subarray(0, m), start);
      onChunk?.(start + m);
    }
  }

  private gramSession: { m: number; session: Promise<ort.InferenceSession> } | null = null;

  /** Gram matrix x·xᵀ of m rows (m × m), for k-means++ seeding without m·K·d work in JS. */
  async gram(x: Float32Array, m: number): Promise<Float32Array> {
    if (this.gramSession?.m !== m) {
      await this.gramSession?.session.then((s) => s.release());
      const g = new Graph(`gram_${m}`);
      const a = g.input('x', 'float32', [m, this.dim]);
      this.gramSession = { m, session: createSession(emit(g, { g: op.gemm(a, a, false, true) }).bytes, this.runtime) };
    }
    const session = await this.gramSession.session;
    const out = new Float32Array(m * m);
    await session.run({ x: toOrt(x.subarray(0, m * this.dim), [m, this.dim]) }, { g: toOrt(out, [m, m]) });
    return out;
  }

  async release(): Promise<void> {
    const all = [...this.compiled.values()];
    this.compiled.clear();
    for (const c of all) await (await c).session.release();
    await this.gramSession?.session.then((s) => s.release());
    this.gramSession = null;
  }
}
