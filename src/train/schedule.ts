/**
 * Learning-rate schedules as pure functions of the optimizer step (0-based: the step about to run).
 * The lr is a scalar input of the compiled training step, so a schedule never forces a recompile, and a
 * resumed run gets the same lr at the same step.
 */
import { GenrecError } from '../engine/errors.js';

export type LrSchedule = (step: number) => number;

export interface WarmupCosineOptions {
  /** Peak learning rate, reached at the end of warm-up. */
  peak: number;
  /** Linear warm-up steps from peak/warmupSteps to peak; 0 = none. */
  warmupSteps: number;
  /** Steps of the whole run (warm-up included); the cosine reaches `min` here and stays there. */
  totalSteps: number;
  /** Final learning rate; default 0. */
  min?: number;
}

/** Linear warm-up, then cosine decay from `peak` to `min` over the remaining steps. */
export function warmupCosine(o: WarmupCosineOptions): LrSchedule {
  const { peak, warmupSteps, totalSteps } = o;
  const min = o.min ?? 0;
  if (!(peak > 0) || !(min >= 0) || min > peak || !(warmupSteps >= 0) || !(totalSteps >= 1)) {
    throw new GenrecError('GENREC_E_CONFIG', `bad schedule: peak ${peak}, min ${min}, warm-up ${warmupSteps}, total ${totalSteps}`,
      'use peak > 0, 0 ≤ min ≤ peak, warm-up ≥ 0 and total ≥ 1 steps');
  }
  const decay = Math.max(1, totalSteps - warmupSteps);
  return (step) => {
    if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
    const p = Math.min(1, (step - warmupSteps) / decay);
    return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * p));
  };
}

/** A constant learning rate, optionally after a linear warm-up. */
export function constantLr(lr: number, warmupSteps = 0): LrSchedule {
  return (step) => (step < warmupSteps ? (lr * (step + 1)) / warmupSteps : lr);
}
