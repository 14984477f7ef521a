/**
 * Messages between the model host (models.ts, main thread) and a model worker (model-worker.ts).
 * Kept apart from the worker module so importing the types never runs the worker's code.
 */
export interface WorkerInit { dir: string; threads: number }

export type ToWorker =
  | { op: 'add'; ids: string[]; codes: Int32Array }
  /** Live transitions (model ids, [a0, b0, d0, a1, ...]: b came d positive events after a) for the memory; sign −1 forgets them. */
  | { op: 'pairs'; pairs: Int32Array; sign: 1 | -1 }
  | { op: 'rec'; id: number; users: number; items: Int32Array; exOff: Int32Array; exItems: Int32Array; k: number; beam: number };

export type FromWorker =
  | { op: 'loaded'; version: number; itemIds: string[]; codes: Int32Array; codeSizes: number[]; maxLen: number; memorySpan: number }
  | { op: 'res'; id: number; items: Int32Array; scores: Float32Array; whyItems: Int32Array; whyLen: Int32Array; whyFollowed: Int32Array; whyTimes: Float32Array; ms: number }
  | { op: 'err'; id: number; message: string }
  | { op: 'fatal'; message: string };

/** History items the "why" names per result (sharing its prefix, and memorised before it). */
export const WHY_ITEMS = 3;

