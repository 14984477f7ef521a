/**
 * An ORT session in a worker thread. `session.run` blocks the thread that calls it, so a server runs
 * its models here: the event loop stays free while a batch is computed. Inputs are copied (or
 * transferred when `transfer` is set) to the worker; outputs are transferred back without copying.
 */
import { Worker } from 'node:worker_threads';
import { GenrecError } from './errors.js';
import type { TypedData } from './graph.js';
import { sessionOptions, type RuntimeOptions } from './runtime.js';

export interface WorkerFeed { data: TypedData; dims: readonly number[]; bool?: boolean }
export interface WorkerOutput { data: TypedData; dims: readonly number[] }

const TYPE_OF = new Map<Function, string>([
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int32Array, 'int32'], [BigInt64Array, 'int64'], [Uint32Array, 'uint32'], [Uint8Array, 'uint8'],
]);

export class WorkerSession {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (o: Record<string, WorkerOutput>) => void; reject: (e: Error) => void }>();
  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: { id: number; out?: Record<string, WorkerOutput>; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new GenrecError('GENREC_E_ORT_RUN', `model run failed: ${m.error}`, 'check the inputs match the model; run with GENREC_DEBUG=1 for details'));
      else p.resolve(m.out!);
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', (code) => this.failAll(new Error(`worker exited with code ${code}`)));
  }

  static async create(bytes: Uint8Array, o: RuntimeOptions = {}): Promise<WorkerSession> {
    const worker = new Worker(new URL('./ort-worker.js', import.meta.url), { workerData: { bytes, options: sessionOptions(o) } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (m: { ready: boolean; error?: string }) =>
        m.ready ? resolve() : reject(new GenrecError('GENREC_E_ORT_LOAD', `onnxruntime could not load the model: ${m.error}`, 'the model file may be damaged; re-export it')));
      worker.once('error', reject);
    });
    return new WorkerSession(worker);
  }

  run(feeds: Record<string, WorkerFeed>, transfer = false): Promise<Record<string, WorkerOutput>> {
    const id = this.nextId++;
    const msg: Record<string, { type: string; data: TypedData; dims: readonly number[] }> = {};
    const list: ArrayBuffer[] = [];
    for (const [k, f] of Object.entries(feeds)) {
      const type = f.bool ? 'bool' : TYPE_OF.get(f.data.constructor);
      if (!type) throw new GenrecError('GENREC_E_DTYPE', `feed '${k}': unsupported typed array`, 'use Float32Array, Int32Array or BigInt64Array');
      msg[k] = { type, data: f.data, dims: f.dims };
      if (transfer) list.push(f.data.buffer as ArrayBuffer);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, feeds: msg }, list);
    });
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(new GenrecError('GENREC_E_ORT_RUN', `model worker failed: ${e.message}`, 'restart the process; report the error if it repeats'));
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
