/**
 * The run report (docs/architecture.md#the-run-report): what ran, and per-epoch and final
 * metrics. The same shape for one process and for a fleet; a fleet's also lists its members.
 */
import type { Dataset } from '@permafrost/data';
import type { JobSpec } from '@permafrost/job';
import type { EpochRecord } from './epoch-record';

export interface DataInfo {
  dataset: string;
  datasetId: string;
  trainSamples: number;
  valSamples: number;
  numClasses: number;
  /** the job's data.augment, with cache.views; absent: no augmentation */
  augment?: NonNullable<JobSpec['data']['augment']> & { views: number };
}

export interface FinalMetrics {
  valLoss: number;
  valAccuracy: number;
  trainLoss: number;
  /** training seconds over all epochs */
  seconds: number;
  samplesPerSec: number;
  /** the last checkpoint written */
  checkpoint: string | undefined;
}

/** A progressive-freezing run's schedule: when each block freezes, and the expected speedups. */
export interface FreezeSummary {
  policy: string;
  blocks: { block: string; freezeStep: number | undefined; freezeEpoch: number | undefined }[];
  /** boundary advances: the global step that first trains with the new boundary */
  events: { step: number; boundary: string }[];
  paperSpeedup: number;
  cachedSpeedup: number;
}

export interface RunReport {
  jobId: string;
  backend: string;
  workers: number;
  /** the ranks that trained, with how many shards each owned (one process: rank 0, every shard) */
  members: { rank: number; workerId: string; shards: number }[];
  /**
   * a fleet's membership changes, in order: the generation formed, who left (and why) and who
   * joined, where training resumed and the seconds the change took (empty: none, or one process)
   */
  membership: MembershipEntry[];
  model: Record<string, unknown>;
  data: DataInfo;
  train: Record<string, unknown>;
  epochs: EpochRecord[];
  final: FinalMetrics & { peakRssBytes: number };
  /** the epoch of the checkpoint the run resumed from; 0 for a fresh run */
  resumedFromEpoch: number;
  /** the freeze schedule, when blocks freeze during the run (a fleet's report) */
  freeze?: FreezeSummary;
  startedAt: string;
  finishedAt: string;
}

/** A fleet's membership change: the generation it formed, who left and joined, the resume step. */
export interface MembershipEntry {
  generation: number;
  epoch: number;
  resumeStep: number;
  workers: number;
  left: { workerId: string; reason: string }[];
  joined: string[];
  /** of those who left, the workers excluded for failing too often (cluster.maxWorkerFailures) */
  excluded: string[];
  /** from the first sign of the change to the new generation's start */
  secondsLost: number;
}

export function dataInfo(dataset: Dataset, train: readonly number[], val: readonly number[]): DataInfo {
  return {
    dataset: dataset.name,
    datasetId: dataset.id,
    trainSamples: train.length,
    valSamples: val.length,
    numClasses: dataset.numClasses,
  };
}

/** The report's `final` numbers from its epoch records. */
export function finalMetrics(epochs: readonly EpochRecord[]): FinalMetrics {
  const last = epochs.at(-1);
  const seconds = epochs.reduce((a, e) => a + e.seconds, 0);
  const samples = epochs.reduce((a, e) => a + e.samplesPerSec * e.seconds, 0);
  return {
    valLoss: last?.valLoss ?? Number.NaN,
    valAccuracy: last?.valAccuracy ?? Number.NaN,
    trainLoss: last?.trainLoss ?? Number.NaN,
    seconds,
    samplesPerSec: samples / Math.max(seconds, 1e-9),
    checkpoint: epochs.findLast((e) => e.checkpoint !== undefined)?.checkpoint,
  };
}

export interface ReportInput {
  jobId?: string;
  backend: string;
  model: Record<string, unknown>;
  data: DataInfo;
  job: JobSpec;
  epochs: EpochRecord[];
  members?: RunReport['members'];
  membership?: MembershipEntry[];
  resumedFromEpoch?: number;
  freeze?: FreezeSummary;
  startedAt: Date;
}

export function runReport(r: ReportInput): RunReport {
  const members = r.members ?? [{ rank: 0, workerId: 'local', shards: 1 }];
  return {
    jobId: r.jobId ?? '',
    backend: r.backend,
    workers: members.length,
    members,
    membership: r.membership ?? [],
    model: r.model,
    data: r.job.data.augment ? { ...r.data, augment: { ...r.job.data.augment, views: r.job.cache.views } } : r.data,
    train: { ...r.job.train },
    epochs: r.epochs,
    final: { ...finalMetrics(r.epochs), peakRssBytes: process.resourceUsage().maxRSS * 1024 },
    resumedFromEpoch: r.resumedFromEpoch ?? 0,
    ...(r.freeze ? { freeze: r.freeze } : {}),
    startedAt: r.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
  };
}
