export type { AugmentSpec, SampleTransform } from './augment';
export { augmentBatch, augmentId, changesInput, drawTransform, dropoutKey, epochKey, noiseKey, pickView, viewKey } from './augment';
export type { Dataset } from './dataset';
export { batches } from './epoch-order';
export { openDataset } from './open-dataset';
export { preprocess, preprocessId } from './preprocess';
export { seededRandom } from './seeded-random';
export { assignShards, defaultShardCount, localEpochPlan, shardOf } from './shard-plan';
export { splitTrainVal } from './split';
