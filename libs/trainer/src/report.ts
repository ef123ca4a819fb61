import type { ModelInfo } from './run-setup';

/** The run report (DESIGN §5): what ran, and per-epoch and final metrics. */
export interface EpochRecord {
  epoch: number;
  seconds: number;
  samplesPerSec: number;
  trainLoss: number;
  valLoss: number;
  valAccuracy: number;
  /** seconds spent evaluating (not in `seconds`) */
  valSeconds: number;
  /** training lookups that hit / missed the cache (without a cache every sample is a miss) */
  cacheHits: number;
  cacheMisses: number;
  /** values whose checksum failed, recomputed and rewritten (training and validation) */
  cacheChecksumFailures: number;
  cacheBytesRead: number;
  cacheBytesWritten: number;
  cacheReadSeconds: number;
  cacheWriteSeconds: number;
  /** whether the cache was in use at the end of the epoch */
  cached: boolean;
  trainableLayers: number;
  boundary: string;
  /** seconds spent running the frozen prefix in training batches */
  prefixSeconds: number;
}

export interface RunReport {
  backend: string;
  workers: number;
  model: ModelInfo;
  data: { dataset: string; datasetId: string; trainSamples: number; valSamples: number; numClasses: number };
  train: Record<string, unknown>;
  epochs: EpochRecord[];
  final: {
    valLoss: number;
    valAccuracy: number;
    trainLoss: number;
    seconds: number;
    samplesPerSec: number;
    peakRssBytes: number;
    checkpoint: string | undefined;
  };
  startedAt: string;
  finishedAt: string;
}
