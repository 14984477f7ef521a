/**
 * Training the generators of an ensemble. Each member is one `trainGenerator` run on the shared codes,
 * early-stopped on its own validation NDCG@10. ORT's `run` is a synchronous native call, so members
 * overlap only in separate threads: with a thread budget of b and n members, min(n, b) worker threads
 * train at once, each with b / min(n, b) engine threads (on 2 cores: two members side by side, one
 * thread each, instead of one after another on two threads, which small models barely use).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { GenrecError, type RuntimeOptions } from '../engine/index.js';
import type { Split } from '../data/split.js';
import { Generator, type GeneratorConfig } from '../models/generator.js';
import { DEFAULT_MEMORY_DECAY, DEFAULT_MEMORY_WINDOW, SHARES_MEMORY_DECAY, SHARES_MEMORY_WINDOW, type MemoryOptions, type TransitionTable } from '../models/transitions.js';
import { RunDir, trainGenerator, type GeneratorTrainOptions, type TrainLoopResult } from '../train/index.js';
import { GenerativeModel } from '../retrieval/generative.js';
import { evaluate } from './harness.js';
import { generativeRanker } from './generative-ranker.js';

/** The settings of `trainGenerator` a member takes from its caller (plain data). */
export type MemberTrainOptions = Partial<Pick<GeneratorTrainOptions, 'model' | 'batchSize' | 'lr' | 'weightDecay' | 'historyDropout' | 'labelSmoothing' | 'windows' | 'recencyWeight'>>;

/** Everything one member's training needs, as plain data (it crosses to a worker thread). */
export interface MemberJob {
  /** Its own seed (initial weights, dropout, batch order). */
  seed: number;
  /** Seed of the validation users' sample (the same for every member). */
  sampleSeed: number;
  split: Split;
  codes: Int32Array;
  codeSizes: number[];
  itemIds: string[];
  maxLen: number;
  epochs: number;
  /** Model and optimiser settings, passed to `trainGenerator` as they are. */
  train: MemberTrainOptions;
  patience: number;
  evalEvery: number;
  evalUsers: number;
  beam: number;
  /** Run directory path (checkpoints, curves; a run found there resumes). */
  runDir?: string;
  resume?: boolean;
  runtime?: RuntimeOptions;
}

export interface GenrecMember {
  model: Generator;
  result: TrainLoopResult;
  trainSeconds: number;
}

/** Trains one member in this thread; `shouldStop` cancels it between steps. */
export async function trainMember(j: MemberJob, shouldStop?: () => boolean): Promise<GenrecMember> {
  const t0 = performance.now();
  const { model, result } = await trainGenerator({
    ...j.train,
    ...(shouldStop ? { shouldStop } : {}),
    split: j.split, codes: j.codes, codeSizes: j.codeSizes, maxLen: j.maxLen, epochs: j.epochs, seed: j.seed,
    patience: j.patience, evalEvery: j.evalEvery,
    ...(j.runDir ? { runDir: new RunDir(j.runDir) } : {}),
    ...(j.resume !== undefined ? { resume: j.resume } : {}),
    ...(j.runtime ? { runtime: j.runtime } : {}),
    evaluate: (m) => validate(m, j),
  });
  return { model, result, trainSeconds: (performance.now() - t0) / 1000 };
}

/**
 * Validation figures (seen items excluded) of one generator or of an ensemble decoded as one, through the
 * exported graphs, on the job's sample of validation users: the metric early stopping reads, and an
 * ensemble's own figure once its members are trained.
 */
export async function validate(models: Generator | Generator[], j: ValidationJob): Promise<Record<string, number>> {
  const gm = await GenerativeModel.fromModule(models, j.codes, j.itemIds, j.runtime);
  try {
    return await validateModel(gm, j);
  } finally {
    await gm.close();
  }
}

type ValidationJob = Pick<MemberJob, 'codes' | 'itemIds' | 'split' | 'beam' | 'evalUsers' | 'sampleSeed' | 'runtime'>;

async function validateModel(gm: GenerativeModel, j: ValidationJob): Promise<Record<string, number>> {
  const r = await evaluate(generativeRanker(gm, { beam: j.beam }), j.split, 'valid', { includeSeen: false, sample: j.evalUsers, sampleSeed: j.sampleSeed });
  return r.exclude;
}

/**
 * β values the validation sweep tries for the memorised transitions: how many observed transitions
 * weigh as much as the model's whole distribution. The best differs by dataset (30–100 on
 * amazon-scientific, 300 on Beauty and Yelp, 3,000 on ml-1m, whose users' last items have hundreds of
 * successors; docs/results.md sections 27 and 28), so it is measured, not fixed.
 */
export const MEMORY_BETAS = [10, 30, 100, 300, 1000, 3000, 10000, 30000];
/** Where the search starts (the reversed weight is chosen there). */
export const MEMORY_START_BETA = 100;
/** β for shares (transitions.ts): in recent items' worth of evidence, not in transitions. */
export const SHARE_BETAS = [0.1, 0.3, 1, 3, 10, 30, 100];
export const SHARE_START_BETA = 3;
/** Weights of the reversed transitions the sweep tries with each β: order kept, or either order alike. */
export const MEMORY_REVERSE = [0, 1];

/** Tables the sweep tries at its best setting: successors one item on, or up to 10 items on (SPAN_GAIN per step). */
export const MEMORY_SPANS = [1, 10];

/** How the memory reads its rows: raw counts, shares of each recent item's total, or whichever validates better. */
export type MemoryRows = 'counts' | 'shares' | 'auto';

export interface MemoryTuning {
  /** The settings that validated best, or null when the model alone did. */
  options: MemoryOptions | null;
  /** Validation figures of what ranks (with `options`, or the model alone). */
  metrics: Record<string, number>;
  /** The model alone on the same users. */
  modelMetrics: Record<string, number>;
  /** Validation NDCG@10 of each (rows, span, β, reverse) tried. */
  tried: { shares: boolean; span: number; beta: number; reverse: number; ndcg10: number }[];
  /** The table the kept options read (its span is theirs), or null with the model alone. */
  table: TransitionTable | null;
}

/**
 * Picks the rows (counts or shares), β (from each one's grid, ascending) and the reversed transitions'
 * weight on the job's validation users (the sample early stopping reads; the table counts the training
 * part only, so no validation target is ever in it), against the model alone, keeping the best NDCG@10
 * (seen items excluded), and the model alone unless a setting beats it (or `force`: the best setting even then).
 */
export async function tuneMemory(models: Generator | Generator[], tableOf: (span: number) => TransitionTable, j: ValidationJob, o: { betas?: readonly number[]; shareBetas?: readonly number[]; reverses?: readonly number[]; spans?: readonly number[]; rows?: MemoryRows; force?: boolean } = {}): Promise<MemoryTuning> {
  const gm = await GenerativeModel.fromModule(models, j.codes, j.itemIds, j.runtime);
  // Every pass searches the same users' histories with the same model: only the prior changes.
  gm.reuseFirstLevels(true);
  try {
    const modelMetrics = await validateModel(gm, j);
    let best: MemoryTuning = { options: null, metrics: modelMetrics, modelMetrics, tried: [], table: null };
    const reverses = o.reverses ?? MEMORY_REVERSE, spans = o.spans ?? MEMORY_SPANS;
    const tables = new Map<number, TransitionTable>();
    const tableWith = (span: number) => { let t = tables.get(span); if (!t) tables.set(span, (t = tableOf(span))); return t; };
    const grids = {
      counts: { shares: false, betas: o.betas ?? MEMORY_BETAS, start: MEMORY_START_BETA, window: DEFAULT_MEMORY_WINDOW, decay: DEFAULT_MEMORY_DECAY },
      shares: { shares: true, betas: o.shareBetas ?? SHARE_BETAS, start: SHARE_START_BETA, window: SHARES_MEMORY_WINDOW, decay: SHARES_MEMORY_DECAY },
    };
    type Grid = typeof grids.counts;
    let span = spans[0]!;
    const at = async (g: Grid, i: number, reverse: number): Promise<number> => {
      const options: MemoryOptions = { beta: g.betas[i]!, window: g.window, decay: g.decay, reverse, ...(g.shares ? { shares: true } : {}), ...(span > 1 ? { span } : {}) };
      const table = tableWith(span);
      gm.setMemory({ table, options });
      const metrics = await validateModel(gm, j), ndcg10 = metrics['ndcg@10']!;
      best.tried.push({ shares: g.shares, span, beta: options.beta, reverse, ndcg10 });
      if (ndcg10 > best.metrics['ndcg@10']! || (o.force && !best.options)) best = { ...best, options, metrics, table };
      return ndcg10;
    };
    // A coordinate search (each validation pass costs a full beam search over the sampled users): each
    // grid's starting β (the middle one of a grid without it) with each reversed weight (counts and
    // shares prefer different ones: ml-1m, section 29), β stepped in each grid from its better start
    // while NDCG@10 rises (unimodal in every sweep of sections 27–29; a grid that starts worse can end
    // better: ml-1m's counts, section 29), then the wider table at each grid's best setting.
    const mid = (g: Grid) => g.betas.includes(g.start) ? g.betas.indexOf(g.start) : g.betas.length >> 1;
    const walk = async (g: Grid, reverse: number, from: number, score: number): Promise<[number, number]> => {
      let top = from, topScore = score;
      for (const step of [-1, 1]) {
        let edge = score;
        for (let i = from + step; i >= 0 && i < g.betas.length; i += step) {
          const x = await at(g, i, reverse);
          if (!(x > edge)) break;
          edge = x;
          if (x > topScore) { top = i; topScore = x; }
        }
      }
      return [top, topScore];
    };
    const rows = o.rows ?? 'auto';
    const order: Grid[] = rows === 'auto' ? [grids.counts, grids.shares] : [grids[rows]];
    const starts: { g: Grid; reverse: number; score: number }[] = [];
    for (const g of order) {
      let reverse = reverses[0]!, score = -Infinity;
      for (const r of reverses) { const x = await at(g, mid(g), r); if (x > score) { score = x; reverse = r; } }
      starts.push({ g, reverse, score });
    }
    const tops: { g: Grid; reverse: number; beta: number; score: number }[] = [];
    for (const st of starts) {
      const [beta, score] = await walk(st.g, st.reverse, mid(st.g), st.score);
      tops.push({ g: st.g, reverse: st.reverse, beta, score });
    }
    // The wider tables at each grid's best setting: the grid that wins at span 1 need not win wider
    // (Beauty, section 30). A counts table with a span holds more mass, so its β starts scaled by the
    // tables' mass ratio (shares are per row already), and β is walked from there: how far the best
    // moves is the data's (ml-1m: with the ratio; Beauty: back to span 1's β).
    const mass = (t: TransitionTable) => { let m = 0; for (let i = 0; i < t.count.length; i++) m += t.count[i]!; return m; };
    for (const s of spans.slice(1)) {
      span = s;
      const ratio = mass(tableWith(s)) / mass(tableWith(spans[0]!));
      for (const t of tops) {
        let i = t.beta;
        if (!t.g.shares) {
          const want = Math.log(t.g.betas[t.beta]! * ratio);
          for (let k = 0; k < t.g.betas.length; k++) if (Math.abs(Math.log(t.g.betas[k]!) - want) < Math.abs(Math.log(t.g.betas[i]!) - want)) i = k;
        }
        await walk(t.g, t.reverse, i, await at(t.g, i, t.reverse));
      }
    }
    return best;
  } finally {
    await gm.close();
  }
}

/** An ensemble's report fields: how many members, and each member's best epoch and validation figure ({} for one model). */
export function memberInfo(results: TrainLoopResult[]): Record<string, unknown> {
  if (results.length < 2) return {};
  return { members: results.length, member_best_epochs: results.map((r) => r.bestEpoch).join('/'), member_valid_ndcg10: results.map((r) => r.bestMetric.toFixed(4)).join('/') };
}

/** What a member worker posts back: the trained weights, or the error that stopped it. */
export type MemberReply =
  | { ok: true; config: GeneratorConfig; params: Float32Array[]; result: TrainLoopResult; trainSeconds: number }
  | { ok: false; code: string; message: string; hint: string };

/** A member worker's input: its job, and a shared flag that cancels it when set to 1. */
export interface MemberWorkerData { job: MemberJob; cancel: Int32Array }

/**
 * Trains one member in a worker thread (member-worker.ts) and rebuilds its model here. The thread ends
 * on its own once it has posted its result; it is never terminated from outside, since tearing a thread
 * down inside onnxruntime's native code aborts the process. `cancel` (shared) stops it between steps.
 */
function trainMemberInWorker(j: MemberJob, cancel: Int32Array): Promise<GenrecMember> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./member-worker.js', import.meta.url), { workerData: { job: j, cancel } satisfies MemberWorkerData });
    let settled = false;
    worker.once('message', (m: MemberReply) => {
      settled = true;
      if (!m.ok) return reject(m.code.startsWith('GENREC_E_') ? new GenrecError(m.code, m.message, m.hint) : new Error(m.message));
      const model = new Generator(m.config);
      model.parameters().forEach((p, i) => p.data.set(m.params[i]!));
      resolve({ model, result: m.result, trainSeconds: m.trainSeconds });
    });
    worker.once('error', (e) => { if (!settled) { settled = true; reject(e); } });
    worker.once('exit', (code) => {
      if (!settled) { settled = true; reject(new GenrecError('GENREC_E_TRAIN', `a member's training thread exited with code ${code} before it finished`, 'run again; a run directory resumes from the last checkpoint')); }
    });
  });
}

/**
 * Trains every job, in worker threads when the thread budget (the runtime's threads, else the cores)
 * lets more than one run at once; results are in job order.
 */
export async function trainMembers(jobs: MemberJob[], runtime: RuntimeOptions = {}): Promise<GenrecMember[]> {
  const budget = runtime.threads || availableParallelism();
  const concurrency = Math.min(jobs.length, budget);
  if (concurrency <= 1) {
    const out: GenrecMember[] = [];
    for (const j of jobs) out.push(await trainMember(j));
    return out;
  }
  const threads = Math.max(1, Math.floor(budget / concurrency));
  const out: GenrecMember[] = new Array(jobs.length);
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  let next = 0, failure: unknown = null;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      try {
        out[i] = await trainMemberInWorker({ ...jobs[i]!, runtime: { ...jobs[i]!.runtime, threads } }, cancel);
      } catch (e) {
        // One member failed: the ensemble cannot be built, so the others stop at their next step.
        if (failure === null) failure = e;
        Atomics.store(cancel, 0, 1);
        next = jobs.length;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane)); // every thread has ended here
  if (failure !== null) throw failure;
  return out;
}
