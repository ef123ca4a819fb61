export type { Assembled, FreezeSpec, InputSpec, ModelSpec } from './assemble';
export { assemble, modelSource } from './assemble';
export { flopsThrough } from './blocks';
export { BUNDLED } from './bundled';
export { freezesNothing, splitAt } from './model-graph';
export { loadModelFile, saveModelDir } from './model-io';
export { formatModelList, formatModelTable, listModels, modelTable } from './model-table';
export { prefixIdentity } from './prefix-identity';
