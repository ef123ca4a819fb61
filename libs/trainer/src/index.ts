export type { ActivationBatch, BatchCounters } from './activation-source';
export { ActivationSource, addCounters, emptyCounters } from './activation-source';
export type { CacheSpec, OpenedCache, PrefixFingerprint } from './cache-setup';
export { openRunCache, prefixFingerprint } from './cache-setup';
export type {
  RebuiltPrefix,
  VerifyCacheOptions,
  VerifyCacheResult,
  VerifyOptions,
  VerifyReport,
  VerifySelection,
  VerifyStatus,
} from './cache-verify';
export { jobFingerprint, rebuildPrefix, verifyCache, verifyFingerprint } from './cache-verify';
export type { CheckpointMeta } from './checkpoint';
export { writeCheckpoint } from './checkpoint';
export { restoreCheckpoint } from './checkpoint-restore';
export type { FitOptions, FitResult, ProgressEvent } from './fit';
export { evaluate, fit } from './fit';
export { correctCount, crossEntropySum } from './loss';
export type { OptimizerSpec } from './optimizer';
export { addWeightDecay, createOptimizer } from './optimizer';
export { jobFromRecipe, prefixRecipe } from './prefix-recipe';
export type { EpochRecord, RunReport } from './report';
export type { FinalMetrics, ModelInfo, PreparedRun } from './run-setup';
export { describeModel, finalMetrics, prepareRun } from './run-setup';
export type { GradientReducer, StepOptions, StepResult } from './suffix-trainer';
export { SuffixTrainer, weightsHash } from './suffix-trainer';
export type { TrainJobOptions } from './train-job';
export { trainJob } from './train-job';
