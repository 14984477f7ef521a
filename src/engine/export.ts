/**
 * Export an inference graph as a standalone `.onnx` file: the module's forward is rebuilt in a graph
 * whose parameters are constants (initializers), so any ONNX Runtime (Python, C++, web, CUDA) loads it
 * with no genrec code. Dynamic dims (e.g. 'batch') stay symbolic in the file.
 */
import { writeFileAtomic } from './atomic-write.js';
import { emit } from './emit.js';
import { Graph, type Tensor } from './graph.js';
import type { Module } from './module.js';

export interface ExportSpec {
  module: Module;
  /** Declare inputs with g.input(...) and return the named outputs. */
  build(g: Graph): Record<string, Tensor>;
  name?: string;
  docString?: string;
}

/** The model bytes (weights embedded). */
export function exportOnnx(spec: ExportSpec): Uint8Array {
  spec.module.parameters(); // assigns names
  const g = new Graph(spec.name ?? 'genrec_inference', true, false);
  const outputs = spec.build(g);
  return emit(g, outputs, spec.docString).bytes;
}

export function exportOnnxFile(path: string, spec: ExportSpec): number {
  const bytes = exportOnnx(spec);
  writeFileAtomic(path, bytes);
  return bytes.length;
}
