export type { ActivationBatch, BatchCounters, Upstream } from './activation-source';
export { ActivationSource, addCounters, emptyCounters } from './activation-source';
export { BlockOptimizers } from './block-optimizers';
export type { CacheSpec, OpenedCache, PrefixFingerprint, PrefixStage } from './cache-setup';
export { openRunCache, prefixFingerprint, registerPrefix } from './cache-setup';
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
export { readCheckpointMeta, restoreCheckpoint } from './checkpoint-restore';
export type { FitOptions, FitResult, ProgressEvent } from './fit';
export { evaluate, fit } from './fit';
export type { FreezeControllerOptions } from './freeze-controller';
export { FreezeController } from './freeze-controller';
export type { JobFreezePlan } from './freeze-setup';
export { freezePlanFor, freezePolicy, planJob, previewFor, stepsPerEpoch } from './freeze-setup';
export { correctCount, crossEntropySum } from './loss';
export type { OptimizerSpec } from './optimizer';
export { addWeightDecay, createOptimizer } from './optimizer';
export { jobFromRecipe, prefixRecipe } from './prefix-recipe';
export type { EpochRecord, RunReport } from './report';
export type { FinalMetrics, ModelInfo, PreparedRun } from './run-setup';
export { describeModel, finalMetrics, prepareRun } from './run-setup';
export type { GradientReducer, GroupOf, StepOptions, StepResult } from './suffix-trainer';
export { SuffixTrainer, weightsHash } from './suffix-trainer';
export type { TrainJobOptions } from './train-job';
export { previewJob, trainJob } from './train-job';
export { PrefixUpstream, SegmentUpstream } from './upstream';
