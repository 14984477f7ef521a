/**
 * The generic epoch loop every genrec model trains with (SASRec, the generator): a compiled `TrainStep`,
 * a batch iterator per epoch, an `evaluate()` callback. It applies the lr schedule per step, evaluates
 * every `evalEvery` epochs, stops early when the validation metric has not improved for `patience`
 * evaluations, checkpoints every epoch (parameters + optimizer state + loop state) and restores the best
 * epoch's parameters at the end.
 *
 * Resume: with a run directory, a loop started again (fresh process or object, same model, data and
 * seed) continues from the last checkpoint and reaches the same numbers as an uninterrupted run. That
 * holds because everything random is a function of (seed, epoch) or (seed, step): the batch order of an
 * epoch, the dropout masks (the step counter is restored) and the lr.
 */
import { GenrecError } from '../engine/errors.js';
import { loadCheckpoint, loadSafetensors, saveCheckpoint, type Metadata } from '../engine/checkpoint.js';
import { log, progress } from '../engine/log.js';
import type { Module } from '../engine/module.js';
import type { Feed, TrainStep } from '../engine/train-step.js';
import type { RunDir } from './run-dir.js';
import type { LrSchedule } from './schedule.js';

export type Feeds = Record<string, Feed>;

export interface TrainLoopOptions {
  step: TrainStep;
  /** The module `step` trains (its parameters are checkpointed and restored). */
  module: Module;
  maxEpochs: number;
  /** The batches of epoch `e` (0-based); must depend only on (seed, e) for resume to be exact. */
  batches(epoch: number): Iterable<Feeds> | AsyncIterable<Feeds>;
  /** Batches per epoch (progress and ETA). */
  stepsPerEpoch: number;
  lr: LrSchedule;
  /** Validation metrics after epoch `epoch` (1-based); must include `metric`. */
  evaluate?(epoch: number): Promise<Record<string, number>>;
  /** Metric to select the best epoch on (higher is better); default 'ndcg@10'. */
  metric?: string;
  /** Stop after this many evaluations without improvement; default 10. */
  patience?: number;
  /** An improvement must exceed this; default 0. */
  minDelta?: number;
  /** Evaluate every n epochs (and after the last); default 1. */
  evalEvery?: number;
  /** Checkpoints and curves go here; a loop finding a checkpoint here resumes from it. */
  runDir?: RunDir;
  /** Resume from the run directory's checkpoint when there is one; default true. */
  resume?: boolean;
  seed: number;
  label?: string;
  /** Return after this many epochs of this call, leaving the checkpoint (simulates a kill; for tests). */
  stopAfterEpochs?: number;
  /**
   * Checked before every step: when it returns true the loop throws GENREC_E_CANCELLED at once. The
   * run directory keeps the last completed epoch's checkpoint, so a later run resumes from there.
   */
  shouldStop?: () => boolean;
  /** Extra metadata stored in the checkpoints (config, data snapshot, ...). */
  metadata?: Record<string, string | number>;
  /** Load the best epoch's parameters into the module at the end; default true. */
  restoreBest?: boolean;
}

export interface EpochRecord {
  epoch: number;
  /** Optimizer steps after this epoch. */
  step: number;
  /** Mean training loss of the epoch. */
  loss: number;
  /** lr of the epoch's last step. */
  lr: number;
  /** Wall-clock seconds of the epoch (training + evaluation). */
  seconds: number;
  metrics?: Record<string, number>;
}

export interface TrainLoopResult {
  /** Epochs completed in total (including those before a resume). */
  epochs: number;
  steps: number;
  /** Best epoch (1-based; 0 when none completed) and its metric (NaN without evaluation). */
  bestEpoch: number;
  bestMetric: number;
  bestMetrics: Record<string, number>;
  stoppedEarly: boolean;
  /** True when `stopAfterEpochs` ended this call before the run finished. */
  interrupted: boolean;
  /** Epochs already done when this call started (0 = fresh run). */
  resumedFrom: number;
  history: EpochRecord[];
  /** Training seconds over the whole run (all calls). */
  seconds: number;
}

interface Curves { metric: string; epochs: EpochRecord[]; stepLoss: number[] }

const CHECKPOINT = 'checkpoint.safetensors';
const BEST = 'best.safetensors';
const CURVES = 'curves.json';

export async function trainLoop(o: TrainLoopOptions): Promise<TrainLoopResult> {
  const metric = o.metric ?? 'ndcg@10';
  const patience = o.patience ?? 10;
  const evalEvery = Math.max(1, o.evalEvery ?? 1);
  const minDelta = o.minDelta ?? 0;
  const label = o.label ?? 'train';
  if (!(Number.isInteger(o.maxEpochs) && o.maxEpochs >= 1)) throw new GenrecError('GENREC_E_CONFIG', `maxEpochs must be a positive integer, got ${o.maxEpochs}`, 'pass --epochs N with N ≥ 1');
  const params = o.module.parameters();

  // Loop state (what the checkpoint metadata carries).
  let epoch = 0, bestEpoch = 0, bestMetric = -Infinity, bad = 0, stoppedEarly = false, trainSeconds = 0;
  let bestMetrics: Record<string, number> = {};
  let best: Float32Array[] | null = null;
  const curves: Curves = { metric, epochs: [], stepLoss: [] };

  const dir = o.runDir;
  if (dir && (o.resume ?? true) && dir.has(CHECKPOINT)) {
    const { optimizer, metadata } = loadCheckpoint(dir.file(CHECKPOINT), o.module);
    const num = (k: string) => Number(metadata[k]);
    if (metadata.seed !== undefined && num('seed') !== o.seed) {
      throw new GenrecError('GENREC_E_RESUME', `${dir.file(CHECKPOINT)} was written with seed ${metadata.seed}, this run has seed ${o.seed}`, 'resume with the same seed, or use a fresh run directory');
    }
    o.step.loadOptimizerState(optimizer, num('step'));
    epoch = num('epoch'); bestEpoch = num('best_epoch'); bestMetric = metadata.best_metric === undefined ? -Infinity : num('best_metric');
    bad = num('bad_evals'); stoppedEarly = metadata.stopped_early === '1'; trainSeconds = num('train_seconds');
    bestMetrics = JSON.parse(metadata.best_metrics ?? '{}') as Record<string, number>;
    const saved = dir.readJson<Curves>(CURVES);
    if (saved) {
      curves.epochs = saved.epochs.filter((e) => e.epoch <= epoch);
      curves.stepLoss = saved.stepLoss.slice(0, num('step'));
    }
    log.info({ label, epoch, step: o.step.step, bestEpoch, bestMetric }, 'resuming from checkpoint');
  }
  const resumedFrom = epoch;

  const saveState = () => {
    if (!dir) return;
    const meta: Metadata = {
      format: 'genrec-train-loop/1', epoch: String(epoch), step: String(o.step.step), seed: String(o.seed), metric,
      best_epoch: String(bestEpoch), bad_evals: String(bad), stopped_early: stoppedEarly ? '1' : '0',
      train_seconds: String(trainSeconds), best_metrics: JSON.stringify(bestMetrics),
    };
    if (Number.isFinite(bestMetric)) meta.best_metric = String(bestMetric);
    for (const [k, v] of Object.entries(o.metadata ?? {})) meta[`user.${k}`] = String(v);
    dir.writeJson(CURVES, curves);
    saveCheckpoint(dir.file(CHECKPOINT), o.module, { optimizer: o.step.optimizerState(), metadata: meta });
  };

  const totalSteps = o.maxEpochs * o.stepsPerEpoch;
  const bar = progress(label, totalSteps);
  if (epoch > 0) bar.update(Math.min(totalSteps, o.step.step));
  let thisCall = 0, interrupted = false;
  while (epoch < o.maxEpochs && !stoppedEarly) {
    if (o.stopAfterEpochs !== undefined && thisCall >= o.stopAfterEpochs) { interrupted = true; break; }
    const t0 = performance.now();
    let sum = 0, n = 0, lr = 0;
    for await (const feeds of o.batches(epoch)) {
      if (o.shouldStop?.()) {
        bar.stop();
        throw new GenrecError('GENREC_E_CANCELLED', `${label}: cancelled at step ${o.step.step} (epoch ${epoch + 1})`, 'start the run again to resume from its last completed epoch');
      }
      lr = o.lr(o.step.step);
      const { loss } = await o.step.run(feeds, lr);
      if (!Number.isFinite(loss)) {
        bar.stop();
        throw new GenrecError('GENREC_E_TRAIN_DIVERGED', `${label}: loss is ${loss} at step ${o.step.step} (epoch ${epoch + 1})`,
          'lower the learning rate, add warm-up or gradient clipping, and check the inputs', { step: o.step.step, epoch: epoch + 1 });
      }
      sum += loss; n++;
      curves.stepLoss.push(Math.round(loss * 1e5) / 1e5);
      bar.tick(1, { epoch: epoch + 1, loss });
    }
    epoch++; thisCall++;
    const rec: EpochRecord = { epoch, step: o.step.step, loss: n ? sum / n : NaN, lr, seconds: 0 };
    const trainEnd = performance.now();
    if (o.evaluate && (epoch % evalEvery === 0 || epoch === o.maxEpochs)) {
      const m = await o.evaluate(epoch);
      const v = m[metric];
      if (typeof v !== 'number' || Number.isNaN(v)) {
        bar.stop();
        throw new GenrecError('GENREC_E_CONFIG', `evaluate() returned no '${metric}'`, `return ${metric} from evaluate() or set metric to one of: ${Object.keys(m).join(', ')}`);
      }
      rec.metrics = m;
      if (v > bestMetric + minDelta || bestEpoch === 0) {
        bestMetric = v; bestEpoch = epoch; bestMetrics = m; bad = 0;
        best = params.map((p) => p.data.slice());
        if (dir) saveCheckpoint(dir.file(BEST), o.module, { metadata: { epoch: String(epoch), [metric]: String(v), seed: String(o.seed) } });
      } else if (++bad >= patience) {
        stoppedEarly = true;
      }
    } else if (!o.evaluate) {
      bestEpoch = epoch; best = null; // without validation the last epoch is the result
    }
    rec.seconds = (performance.now() - t0) / 1000;
    trainSeconds += rec.seconds;
    curves.epochs.push(rec);
    saveState();
    const perEpoch = trainSeconds / epoch;
    log.info({
      label, epoch, loss: Number(rec.loss.toFixed(5)), lr: Number(lr.toPrecision(3)), ...(rec.metrics ? { [metric]: Number(rec.metrics[metric]!.toFixed(5)) } : {}),
      best: Number.isFinite(bestMetric) ? Number(bestMetric.toFixed(5)) : undefined, bestEpoch, trainS: Number(((trainEnd - t0) / 1000).toFixed(1)),
      epochS: Number(rec.seconds.toFixed(1)), etaS: Math.round(perEpoch * (o.maxEpochs - epoch)),
    }, stoppedEarly ? 'epoch (stopping early)' : 'epoch');
  }
  bar.stop();

  if ((o.restoreBest ?? true) && o.evaluate && bestEpoch > 0 && !interrupted) {
    if (best) params.forEach((p, i) => p.data.set(best![i]!));
    else if (dir?.has(BEST)) {
      const { tensors } = loadSafetensors(dir.file(BEST));
      for (const p of params) { const t = tensors.get(p.name); if (t) p.data.set(t.data); }
    }
  }
  return {
    epochs: epoch, steps: o.step.step, bestEpoch, bestMetric: Number.isFinite(bestMetric) ? bestMetric : NaN, bestMetrics,
    stoppedEarly, interrupted, resumedFrom, history: curves.epochs, seconds: trainSeconds,
  };
}
