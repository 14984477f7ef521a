/**
 * A worker thread that trains one ensemble member (members.ts) and posts back its weights, so members
 * train side by side on separate cores (ORT's run blocks the thread that calls it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GenrecError } from '../engine/errors.js';
import { trainMember, type MemberReply, type MemberWorkerData } from './members.js';

if (!parentPort) throw new Error('member-worker.js runs in a worker thread (see members.ts)');
const port = parentPort;

try {
  const { job, cancel } = workerData as MemberWorkerData;
  const m = await trainMember(job, () => Atomics.load(cancel, 0) === 1);
  const params = m.model.parameters().map((p) => p.data.slice()); // own buffers, to transfer
  port.postMessage({ ok: true, config: m.model.c, params, result: m.result, trainSeconds: m.trainSeconds } satisfies MemberReply, params.map((p) => p.buffer as ArrayBuffer));
} catch (e) {
  const err = e as Error;
  port.postMessage({ ok: false, code: e instanceof GenrecError ? e.code : 'ERROR', message: err.message, hint: e instanceof GenrecError ? e.hint : '' } satisfies MemberReply);
}
