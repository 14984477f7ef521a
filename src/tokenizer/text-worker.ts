/**
 * A worker thread that embeds one slice of a catalogue's texts with the Universal Sentence Encoder
 * (embeddings.ts, sentence-encoder.ts), so the slices run on separate cores: TensorFlow.js's WebAssembly backend runs on one
 * thread in Node.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { embedUseSlice, type TextWorkerData, type TextWorkerReply } from './sentence-encoder.js';

if (!parentPort) throw new Error('text-worker.js runs in a worker thread (see embeddings.ts)');
const port = parentPort;

try {
  const { texts, batchSize } = workerData as TextWorkerData;
  const vectors = await embedUseSlice(texts, batchSize, (done) => port.postMessage({ progress: done } satisfies TextWorkerReply));
  port.postMessage({ ok: true, vectors } satisfies TextWorkerReply, [vectors.buffer as ArrayBuffer]);
} catch (e) {
  port.postMessage({ ok: false, message: (e as Error).message } satisfies TextWorkerReply);
}
