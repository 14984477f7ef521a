/**
 * onnxruntime-node sessions: one place that knows the session options (threads, optimisation level,
 * execution provider) and how typed arrays become ORT tensors without copies.
 */
import ort from 'onnxruntime-node';
import { GenrecError } from './errors.js';
import type { TypedData } from './graph.js';

export interface RuntimeOptions {
  /** Intra-op threads; default: the machine's cores (os.availableParallelism). */
  threads?: number;
  /** 'cpu' (default) or 'cuda' (needs onnxruntime-node installed with its CUDA binaries). */
  executionProvider?: 'cpu' | 'cuda';
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Write an ORT profile (JSON) with this file prefix. */
  profilePrefix?: string;
  /**
   * Let the intra-op pool's threads spin-wait for the next parallel section (ORT's own default). Off
   * unless set: a graph run between spans of JS (a beam search's levels, a server's batches) would leave a
   * pool thread spinning on the core the JS needs, which made a two-thread Beauty test pass slower than
   * one thread (docs/results.md section 33). A training step turns it on: one long graph, no JS between.
   */
  spinning?: boolean;
}

let defaults: RuntimeOptions = {};
/** Process-wide defaults (the CLI sets them from the config file / environment). */
export function setRuntimeDefaults(o: RuntimeOptions): void {
  defaults = { ...defaults, ...o };
}

/** GENREC_ENGINE_THREADS as a thread count; 0 (ORT picks) when unset or not a whole number ≥ 0. */
function envThreads(): number {
  const n = Number(process.env.GENREC_ENGINE_THREADS ?? 0);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

/** The intra-op thread count a session made with these options gets; 0 when ORT picks (one per core). */
export function intraOpThreads(o: RuntimeOptions = {}): number {
  return { ...defaults, ...o }.threads ?? envThreads();
}

export function sessionOptions(o: RuntimeOptions = {}): ort.InferenceSession.SessionOptions {
  const opt = { ...defaults, ...o };
  const ep = opt.executionProvider ?? (process.env.GENREC_ENGINE_EXECUTIONPROVIDER as 'cpu' | 'cuda' | undefined) ?? 'cpu';
  return {
    executionProviders: ep === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    intraOpNumThreads: intraOpThreads(o),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opt.graphOptimizationLevel ?? 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    // ORT reads session config entries from `extra`, flattened to dotted keys with string values.
    ...(opt.spinning ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
    ...(opt.profilePrefix ? { enableProfiling: true, profileFilePrefix: opt.profilePrefix } : {}),
  };
}

export async function createSession(bytes: Uint8Array, o: RuntimeOptions = {}): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(bytes, sessionOptions(o));
  } catch (e) {
    throw new GenrecError('GENREC_E_ORT_LOAD', `onnxruntime could not load the model: ${(e as Error).message}`, 'this is a bug in the graph genrec built, or an execution provider that is not installed; run with GENREC_DEBUG=1 and report it', { cause: String(e) });
  }
}

const ORT_TYPE = new Map<Function, ort.Tensor.Type>([
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int32Array, 'int32'], [BigInt64Array, 'int64'], [Uint32Array, 'uint32'], [Uint8Array, 'uint8'],
]);

/** Wrap a typed array as an ORT tensor (no copy). */
export function toOrt(data: TypedData, dims: readonly number[], bool = false): ort.Tensor {
  const type = bool ? 'bool' : ORT_TYPE.get(data.constructor);
  if (!type) throw new GenrecError('GENREC_E_DTYPE', `unsupported typed array ${data.constructor.name}`, 'use Float32Array, Int32Array or BigInt64Array');
  return new ort.Tensor(type as 'float32', data as Float32Array, dims);
}

export { ort };

/**
 * Emit-and-run convenience for tests and one-off evaluation: compiles `outputs` of graph g, feeds the
 * named inputs and returns each output's data. Not for hot paths (it builds a session per call).
 */
export async function runGraph(
  g: import('./graph.js').Graph,
  outputs: Record<string, import('./graph.js').Tensor>,
  feeds: Record<string, { data: TypedData; dims: readonly number[] }>,
  o: RuntimeOptions = {},
): Promise<Record<string, TypedData>> {
  const { emit } = await import('./emit.js');
  const { bytes, inputs } = emit(g, outputs);
  const session = await createSession(bytes, o);
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const i of inputs) {
    const f = feeds[i.name];
    if (!f) throw new GenrecError('GENREC_E_FEED', `graph needs input '${i.name}'`, `pass feeds for: ${inputs.map((x) => x.name).join(', ')}`);
    ortFeeds[i.name] = toOrt(f.data, f.dims, i.dataType === 9);
  }
  const res = await session.run(ortFeeds);
  await session.release();
  return Object.fromEntries(Object.keys(outputs).map((k) => [k, res[k]!.data as TypedData]));
}
