/**
 * A worker thread that owns one GenerativeModel: ORT runs and the beam search happen here, off the
 * server's event loop. Messages are handled one at a time, in order, so an `add` posted before a
 * `rec` is always visible to it. The main thread sends whole micro-batches (models.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GenerativeModel } from '../retrieval/generative.js';
import { WHY_ITEMS, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';

if (!parentPort) throw new Error('model-worker.js runs in a worker thread (see models.ts)');
const port = parentPort;
const init = workerData as WorkerInit;

async function main(): Promise<void> {
  let model: GenerativeModel;
  try {
    model = await GenerativeModel.load(init.dir, { threads: init.threads });
    model.requireItemIdInputsOnly();
  } catch (e) {
    port.postMessage({ op: 'fatal', message: (e as Error).message } satisfies FromWorker);
    return;
  }
  const L = model.config.codeSizes.length;
  const codes = new Int32Array(model.items * L);
  for (let i = 0; i < model.items; i++) codes.set(model.codeOf(i), i * L);
  port.postMessage({ op: 'loaded', version: model.version, itemIds: model.itemIds, codes, codeSizes: model.config.codeSizes, maxLen: model.maxLen, memorySpan: model.memoryOptions ? model.memoryOptions.span ?? 1 : 0 } satisfies FromWorker, [codes.buffer]);

  let chain: Promise<void> = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    chain = chain.then(() => handle(model, m)).catch(() => {});
  });
}

async function handle(model: GenerativeModel, m: ToWorker): Promise<void> {
  if (m.op === 'add') {
    model.addItems(m.ids, m.codes);
    return;
  }
  if (m.op === 'pairs') {
    model.addTransitions(m.pairs, m.sign);
    return;
  }
  const t0 = performance.now();
  try {
    const { users: U, items, exOff, exItems, k } = m;
    const T = model.maxLen;
    const res = await model.recommend({ users: U, items }, {
      k, beam: Math.max(m.beam, k),
      exclude: (u) => (exOff[u + 1]! > exOff[u]! ? exItems.subarray(exOff[u]!, exOff[u + 1]!) : null),
    });
    // The "why" of each result: the history items sharing the longest code prefix with it, and the
    // recent ones it was memorised after.
    const whyItems = new Int32Array(U * k * WHY_ITEMS).fill(-1), whyLen = new Int32Array(U * k);
    const whyFollowed = new Int32Array(U * k * WHY_ITEMS).fill(-1), whyTimes = new Float32Array(U * k * WHY_ITEMS);
    const hist: number[] = [];
    for (let u = 0; u < U; u++) {
      hist.length = 0;
      for (let t = 0; t < T; t++) { const tok = items[u * T + t]!; if (tok > 0) hist.push(tok - 1); }
      for (let j = 0; j < k; j++) {
        const it = res.items[u * k + j]!;
        if (it < 0) continue;
        const w = model.explain(it, hist, WHY_ITEMS);
        whyLen[u * k + j] = w.sharedPrefix.length;
        w.items.forEach((h, x) => { whyItems[(u * k + j) * WHY_ITEMS + x] = h; });
        w.followed.forEach((f, x) => { whyFollowed[(u * k + j) * WHY_ITEMS + x] = f.item; whyTimes[(u * k + j) * WHY_ITEMS + x] = f.times; });
      }
    }
    port.postMessage({ op: 'res', id: m.id, items: res.items, scores: res.scores, whyItems, whyLen, whyFollowed, whyTimes, ms: performance.now() - t0 } satisfies FromWorker,
      [res.items.buffer, res.scores.buffer, whyItems.buffer, whyLen.buffer, whyFollowed.buffer, whyTimes.buffer] as ArrayBuffer[]);
  } catch (e) {
    port.postMessage({ op: 'err', id: m.id, message: (e as Error).message } satisfies FromWorker);
  }
}

void main();
