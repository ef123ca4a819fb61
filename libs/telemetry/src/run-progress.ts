/**
 * What a training run shows while it runs, the same for `train` and for a coordinator: a step
 * line per epoch (a bar on a TTY, a log line every few seconds elsewhere), and a milestone line
 * for each boundary advance, epoch end and checkpoint, with the numbers rounded for reading.
 */
import { Progress } from './progress';

export interface StepLine {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  samplesPerSec: number;
  loss?: number;
  /** share of this epoch's lookups that hit the cache, when there is a cache */
  cacheHitRate?: number;
  /** workers reporting, in a fleet */
  workers?: number;
}

export interface EpochLine {
  epoch: number;
  seconds: number;
  wallSeconds: number;
  samplesPerSec: number;
  trainLoss: number;
  valLoss: number;
  valAccuracy: number;
  cacheHits: number;
  cacheMisses: number;
  samplesByRank: number[];
}

export class RunProgress {
  constructor(private readonly progress: Progress = new Progress()) {}

  step(s: StepLine): void {
    this.progress.update(`epoch ${s.epoch}/${s.epochs}`, s.step, s.steps, {
      'samples/s': s.samplesPerSec,
      ...(s.loss === undefined ? {} : { loss: s.loss }),
      ...(s.cacheHitRate === undefined ? {} : { 'cache hits': `${Math.round(100 * s.cacheHitRate)}%` }),
      ...(s.workers === undefined ? {} : { workers: s.workers }),
    });
  }

  froze(step: number, blocks: readonly string[], boundary: string, trainableLayers: number): void {
    this.progress.milestone(`step ${step}: froze ${blocks.join(', ')}`, { boundary, trainableLayers });
  }

  epochDone(r: EpochLine, epochs: number): void {
    this.progress.milestone(`epoch ${r.epoch}/${epochs}`, {
      seconds: round(r.seconds),
      wallSeconds: round(r.wallSeconds),
      samplesPerSec: round(r.samplesPerSec),
      trainLoss: round(r.trainLoss, 4),
      valLoss: round(r.valLoss, 4),
      valAccuracy: round(r.valAccuracy, 4),
      cacheHits: r.cacheHits,
      cacheMisses: r.cacheMisses,
      ...(r.samplesByRank.length > 1 ? { samplesByRank: r.samplesByRank } : {}),
    });
  }

  checkpointWritten(dir: string): void {
    this.progress.milestone('checkpoint written', { dir });
  }

  clear(): void {
    this.progress.clear();
  }
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
