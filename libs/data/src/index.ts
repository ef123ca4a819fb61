export type { Dataset, OpenDatasetOptions, RawBatch } from './dataset';
export { batches, epochOrder } from './epoch-order';
export { DATASET_NAMES, openDataset } from './open-dataset';
export type { PreprocessSpec } from './preprocess';
export { preprocess, preprocessId } from './preprocess';
export { seededRandom } from './seeded-random';
export type { SplitOptions } from './split';
export { splitTrainVal } from './split';
