/**
 * A run of one process: the training loop at world size 1, epoch after epoch, with a checkpoint
 * after every epoch (if asked) and after the last. The epoch records are computed exactly as a
 * fleet's are (epoch-record.ts), from this one rank's sums.
 */
import { type EpochRecord, epochRecord } from './epoch-record';
import type { SuffixTrainer } from './suffix-trainer';
import { type LoopEvent, type LoopOptions, TrainingLoop } from './training-loop';

export type ProgressEvent = LoopEvent | { type: 'epoch'; record: EpochRecord; epochs: number } | { type: 'checkpoint'; dir: string };

export interface FitOptions extends Omit<LoopOptions, 'reducer' | 'shards' | 'onEvent'> {
  checkpoint?: { dir: string; everyEpoch: boolean; meta?: Record<string, unknown> };
  onProgress?: (e: ProgressEvent) => void;
}

export interface FitResult {
  epochs: EpochRecord[];
  checkpoint: string | undefined;
  trainer: SuffixTrainer;
  /** samples pushed through the frozen prefix from the input over the whole run */
  prefixSamples: number;
  /** the fingerprint of the final boundary, if cached */
  fingerprint: string | undefined;
  /** every fingerprint the run registered (one per boundary), oldest first */
  fingerprints: string[];
  /** the frozen boundary at the end */
  boundary: string;
}

export async function fit(opts: FitOptions): Promise<FitResult> {
  const loop = new TrainingLoop({ ...opts, onEvent: opts.onProgress });
  const records: EpochRecord[] = [];
  let checkpoint: string | undefined;
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const t0 = performance.now();
      const rank = await loop.runEpoch(epoch);
      const c = opts.checkpoint;
      let dir: string | undefined;
      if (c && (epoch === opts.epochs || c.everyEpoch)) {
        const valAccuracy = rank.valCount > 0 ? rank.valCorrect / rank.valCount : Number.NaN;
        dir = await loop.checkpoint(c.dir, epoch, { ...c.meta, valAccuracy });
        checkpoint = dir;
        opts.onProgress?.({ type: 'checkpoint', dir });
      }
      const record = epochRecord([rank], (performance.now() - t0) / 1000, dir);
      records.push(record);
      opts.onProgress?.({ type: 'epoch', record, epochs: opts.epochs });
    }
  } finally {
    await loop.close();
  }
  const ctl = loop.ctl;
  return {
    epochs: records,
    checkpoint,
    trainer: ctl.trainer,
    prefixSamples: ctl.prefixSamples,
    fingerprint: ctl.opened?.fingerprint,
    fingerprints: ctl.fingerprints,
    boundary: ctl.boundary,
  };
}
