/**
 * Worker-thread side of `WorkerSession`: owns one ORT session and runs it on request, so the caller's
 * event loop never blocks inside `session.run` (a synchronous native call).
 */
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';

interface RunMsg { id: number; feeds: Record<string, { type: string; data: ArrayBufferView; dims: number[] }> }

const { bytes, options } = workerData as { bytes: Uint8Array; options: ort.InferenceSession.SessionOptions };
const ready = ort.InferenceSession.create(bytes, options);

ready.then(
  () => parentPort!.postMessage({ ready: true }),
  (e: Error) => parentPort!.postMessage({ ready: false, error: e.message }),
);

parentPort!.on('message', async (msg: RunMsg) => {
  try {
    const session = await ready;
    const feeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(msg.feeds)) feeds[k] = new ort.Tensor(v.type as 'float32', v.data as Float32Array, v.dims);
    const res = await session.run(feeds);
    const out: Record<string, { type: string; data: ArrayBufferView; dims: readonly number[] }> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [k, t] of Object.entries(res)) {
      const data = t.data as Float32Array;
      out[k] = { type: t.type, data, dims: t.dims };
      transfer.push(data.buffer as ArrayBuffer);
    }
    parentPort!.postMessage({ id: msg.id, out }, transfer);
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).message });
  }
});
