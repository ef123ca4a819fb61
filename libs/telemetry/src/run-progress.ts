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
  /** the fleet's membership generation (it grows with every worker lost or joined) */
  generation?: number;
}

/** An epoch's record: the fields EPOCH_FIELDS names are shown, rounded. */
export type EpochLine = { epoch: number; samplesByRank: number[] } & Record<(typeof EPOCH_FIELDS)[number][0], number>;

/** the record's fields an epoch's line shows, with the decimals each is rounded to */
const EPOCH_FIELDS = [
  ['seconds', 2],
  ['wallSeconds', 2],
  ['samplesPerSec', 2],
  ['trainLoss', 4],
  ['valLoss', 4],
  ['valAccuracy', 4],
  ['cacheHits', 0],
  ['cacheMisses', 0],
] as const;

export class RunProgress {
  constructor(private readonly progress: Progress = new Progress()) {}

  step(s: StepLine): void {
    this.progress.update(`epoch ${s.epoch}/${s.epochs}`, s.step, s.steps, {
      'samples/s': s.samplesPerSec,
      ...(s.loss === undefined ? {} : { loss: s.loss }),
      ...(s.cacheHitRate === undefined ? {} : { 'cache hits': `${Math.round(100 * s.cacheHitRate)}%` }),
      ...(s.workers === undefined ? {} : { workers: s.workers }),
      ...(s.generation === undefined ? {} : { generation: s.generation }),
    });
  }

  froze(step: number, blocks: readonly string[], boundary: string, trainableLayers: number): void {
    this.progress.milestone(`step ${step}: froze ${blocks.join(', ')}`, { boundary, trainableLayers });
  }

  epochDone(r: EpochLine, epochs: number): void {
    const fields = Object.fromEntries(EPOCH_FIELDS.map(([k, digits]) => [k, round(r[k], digits)]));
    const byRank = r.samplesByRank.length > 1 ? { samplesByRank: r.samplesByRank } : {};
    this.progress.milestone(`epoch ${r.epoch}/${epochs}`, { ...fields, ...byRank });
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
