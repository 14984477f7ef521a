/**
 * Graph → ONNX model bytes. Only nodes that the requested outputs depend on are emitted, in recording
 * order (which is topological); constants become initializers.
 */
import { GenrecError } from './errors.js';
import type { Graph, Tensor } from './graph.js';
import { encodeModel, type NodeInit, type TensorInit, type ValueInfo } from './onnx-proto.js';
import { ONNX_TYPE } from './ops.js';

export const OPSET = 20;
export const IR_VERSION = 9;

export interface EmitResult {
  bytes: Uint8Array;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodeCount: number;
}

function rawBytes(t: Tensor): Uint8Array {
  const d = t.constData!;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

export function emit(graph: Graph, outputs: Record<string, Tensor>, docString?: string): EmitResult {
  // Backward pass: which nodes are needed.
  const needed = new Set<object>();
  const usedTensors = new Set<Tensor>();
  const stack: Tensor[] = Object.values(outputs);
  while (stack.length) {
    const t = stack.pop()!;
    if (usedTensors.has(t)) continue;
    usedTensors.add(t);
    const n = t.producer;
    if (n && !needed.has(n)) {
      needed.add(n);
      for (const i of n.inputs) if (i) stack.push(i);
    }
  }

  const names = new Map<Tensor, string>();
  const nameOf = (t: Tensor) => names.get(t) ?? t.name;
  const nodes: NodeInit[] = [];
  const outInfos: ValueInfo[] = [];
  const extraNodes: NodeInit[] = [];
  const taken = new Set<string>();
  for (const [outName, t] of Object.entries(outputs)) {
    if (taken.has(outName)) throw new GenrecError('GENREC_E_GRAPH', `duplicate output name ${outName}`, 'name outputs uniquely');
    taken.add(outName);
    if (t.producer && !names.has(t) && !t.inputName) names.set(t, outName);
    else extraNodes.push({ opType: 'Identity', inputs: [nameOf(t)], outputs: [outName] });
    outInfos.push({ name: outName, dataType: ONNX_TYPE[t.dtype], shape: t.shape });
  }

  let k = 0;
  const initializers: TensorInit[] = [];
  const seenConst = new Set<Tensor>();
  for (const n of graph.nodes) {
    if (!needed.has(n)) continue;
    for (const i of n.inputs) {
      if (i?.constData && !seenConst.has(i)) {
        seenConst.add(i);
        initializers.push({ name: i.name, dataType: ONNX_TYPE[i.dtype], dims: i.shape as number[], raw: rawBytes(i) });
      }
    }
    nodes.push({
      opType: n.op,
      inputs: n.inputs.map((i) => (i ? nameOf(i) : '')),
      outputs: n.outputs.map((o) => (usedTensors.has(o) ? nameOf(o) : `${nameOf(o)}_unused`)),
      name: `n${k++}_${n.op}`,
      ...(n.domain ? { domain: n.domain } : {}),
      attrs: n.attrs,
    });
  }
  // Constants requested directly as outputs.
  for (const t of Object.values(outputs)) {
    if (t.constData && !seenConst.has(t)) {
      seenConst.add(t);
      initializers.push({ name: t.name, dataType: ONNX_TYPE[t.dtype], dims: t.shape as number[], raw: rawBytes(t) });
    }
  }
  nodes.push(...extraNodes);

  const inputs = graph.inputs.filter((t) => usedTensors.has(t)).map((t) => ({ name: t.name, dataType: ONNX_TYPE[t.dtype], shape: t.shape }));
  const opsets: Record<string, number> = { '': OPSET };
  if (nodes.some((n) => n.domain === 'com.microsoft')) opsets['com.microsoft'] = 1;
  const bytes = encodeModel({ nodes, inputs, outputs: outInfos, initializers, opsets, irVersion: IR_VERSION, graphName: graph.name, ...(docString ? { docString } : {}) });
  return { bytes, inputs, outputs: outInfos, nodeCount: nodes.length };
}
