/**
 * A compiled training step: forward, reverse-mode backward, optional global-norm clipping and the
 * optimizer update, all in ONE ONNX graph run by onnxruntime. Parameters and optimizer state live in
 * typed arrays that ping-pong between two buffers: step n reads buffer A and writes its updated values
 * straight into pre-allocated buffer B (ORT fetches), then the roles swap — no per-step allocation.
 */
import type ort from 'onnxruntime-node';
import { gradients } from './autodiff.js';
import { emit } from './emit.js';
import { GenrecError } from './errors.js';
import { Graph, type Tensor, type TypedData } from './graph.js';
import { paramInputName, type Module, type Parameter } from './module.js';
import { buildOptimizer, clipGlobalNorm, type OptimizerConfig } from './optim.js';
import { mix32 } from './random.js';
import { createSession, intraOpThreads, toOrt, type RuntimeOptions } from './runtime.js';

export interface Feed { data: TypedData; dims: readonly number[] }

export interface TrainStepSpec {
  module: Module;
  /** Declare data inputs with g.input(...) and return the scalar loss (plus any extra outputs). */
  build(g: Graph): { loss: Tensor; outputs?: Record<string, Tensor> };
  optimizer: OptimizerConfig;
  /** Clip the global gradient norm to this value. */
  clipNorm?: number;
  /** Seed of the dropout masks (mask = f(seed, step)). */
  seed?: number;
  runtime?: RuntimeOptions;
}

interface Slot { name: string; cur: Float32Array; next: Float32Array; shape: readonly number[]; out: string; param?: Parameter }

export class TrainStep {
  /** Number of optimizer steps applied so far (Adam's t is step + 1 during the next run). */
  step = 0;

  private constructor(
    readonly session: ort.InferenceSession,
    private readonly slots: Slot[],
    private readonly frozen: Parameter[],
    private readonly dataInputs: Map<string, Tensor>,
    private readonly scalars: Record<string, (lr: number, step: number) => number>,
    private readonly extraOutputs: string[],
    private readonly seed: number,
    private readonly hasDropout: boolean,
    readonly nodeCount: number,
    readonly modelBytes: number,
  ) {}

  static async compile(spec: TrainStepSpec): Promise<TrainStep> {
    const params = spec.module.parameters();
    const g = new Graph('train_step', false, true);
    // On one engine thread the graph may use one-thread kernels; the session below is made with that count.
    const threads = intraOpThreads(spec.runtime);
    g.oneThread = threads === 1;
    const { loss, outputs = {} } = spec.build(g);
    const used = params.filter((p) => g.bound(p));
    const trainable = used.filter((p) => p.trainable);
    const frozen = used.filter((p) => !p.trainable);
    const tensors = trainable.map((p) => g.bound(p)!);
    // A parameter that does not reach the loss gets a zero gradient of its own shape.
    const grads = gradients(loss, tensors).map((gr, i) => gr ?? g.constant(new Float32Array(trainable[i]!.size), trainable[i]!.shape, 'float32'));
    const clip = spec.clipNorm === undefined ? undefined : clipGlobalNorm(grads, spec.clipNorm);
    const gradNorm = clip?.norm ?? null;
    const opt = buildOptimizer(g, spec.optimizer, trainable, tensors, grads, clip);

    const outs: Record<string, Tensor> = { loss };
    if (gradNorm) outs.grad_norm = gradNorm;
    for (const [k, t] of Object.entries(outputs)) outs[k] = t;
    const slots: Slot[] = [];
    for (const p of trainable) {
      const out = `new.${p.name}`;
      outs[out] = opt.updated.get(p)!;
      slots.push({ name: paramInputName(p.name), cur: p.data, next: new Float32Array(p.size), shape: p.shape, out, param: p });
    }
    for (const s of opt.slots) {
      const name = s.input.name;
      const out = `new.${name}`;
      outs[out] = s.output;
      slots.push({ name, cur: new Float32Array(s.param.size), next: new Float32Array(s.param.size), shape: s.param.shape, out });
    }
    const { bytes, nodeCount } = emit(g, outs);
    const session = await createSession(bytes, { ...spec.runtime, threads, spinning: spec.runtime?.spinning ?? true });
    const reserved = new Set([...slots.map((s) => s.name), ...frozen.map((p) => paramInputName(p.name)), ...Object.keys(opt.scalars), 'dropout_key']);
    const dataInputs = new Map(g.inputs.filter((t) => !reserved.has(t.name)).map((t) => [t.name, t]));
    const hasDropout = g.inputs.some((t) => t.name === 'dropout_key');
    return new TrainStep(session, slots, frozen, dataInputs, opt.scalars, Object.keys(outputs).concat(gradNorm ? ['grad_norm'] : []), spec.seed ?? 0, hasDropout, nodeCount, bytes.length);
  }

  /** Names of the data inputs this step expects, with their shapes. */
  get inputs(): Array<{ name: string; dtype: string; shape: readonly (number | string)[] }> {
    return [...this.dataInputs.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
  }

  /** Run one step with learning rate `lr`; returns the loss and any extra outputs. */
  async run(feeds: Record<string, Feed>, lr: number): Promise<{ loss: number; outputs: Record<string, TypedData> }> {
    const t = this.step + 1;
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, input] of this.dataInputs) {
      const f = feeds[name];
      if (!f) throw new GenrecError('GENREC_E_FEED', `training step needs input '${name}'`, `pass feeds for: ${[...this.dataInputs.keys()].join(', ')}`);
      const want = input.shape;
      if (f.dims.length !== want.length || f.dims.some((d, i) => typeof want[i] === 'number' && d !== want[i])) {
        throw new GenrecError('GENREC_E_SHAPE', `input '${name}' has shape [${f.dims}], the step was compiled for [${want}]`, 'pad the batch to the compiled shape bucket');
      }
      ortFeeds[name] = toOrt(f.data, f.dims, input.dtype === 'bool');
    }
    for (const s of this.slots) {
      if (s.param) s.cur = s.param.data; // the caller may have replaced or reloaded it
      ortFeeds[s.name] = toOrt(s.cur, s.shape);
    }
    for (const p of this.frozen) ortFeeds[paramInputName(p.name)] = toOrt(p.data, p.shape);
    for (const [name, f] of Object.entries(this.scalars)) ortFeeds[name] = toOrt(Float32Array.of(f(lr, t)), []);
    if (this.hasDropout) ortFeeds.dropout_key = toOrt(Uint32Array.of(mix32(this.seed, t)), []);

    const fetches: Record<string, ort.Tensor | null> = { loss: null };
    for (const k of this.extraOutputs) fetches[k] = null;
    for (const s of this.slots) fetches[s.out] = toOrt(s.next, s.shape);
    const res = await this.session.run(ortFeeds, fetches as ort.InferenceSession.FetchesType);
    for (const s of this.slots) {
      [s.cur, s.next] = [s.next, s.cur];
      if (s.param) s.param.data = s.cur;
    }
    this.step = t;
    const outputs: Record<string, TypedData> = {};
    for (const k of this.extraOutputs) outputs[k] = res[k]!.data as TypedData;
    return { loss: Number((res.loss!.data as Float32Array)[0]), outputs };
  }

  /** Optimizer state by name (for checkpoints): `adam_m.<param>` etc. */
  optimizerState(): Map<string, Float32Array> {
    return new Map(this.slots.filter((s) => !s.param).map((s) => [s.name, s.cur]));
  }

  /** Restore optimizer state and the step counter (after loading parameters). */
  loadOptimizerState(state: Map<string, Float32Array>, step: number): void {
    for (const s of this.slots) {
      if (s.param) { s.cur = s.param.data; continue; }
      const v = state.get(s.name);
      if (!v) throw new GenrecError('GENREC_E_CHECKPOINT', `checkpoint has no optimizer state '${s.name}'`, 'resume with the same optimizer and model configuration, or start fresh');
      if (v.length !== s.cur.length) throw new GenrecError('GENREC_E_CHECKPOINT', `optimizer state '${s.name}' has ${v.length} values, expected ${s.cur.length}`, 'resume with the same model configuration');
      s.cur.set(v);
    }
    this.step = step;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
