export type { EngineInfo } from './backend';
export { engineInfo, initEngine, missingKernels } from './backend';
export { readInto } from './read-into';
export { FusedAdamOptimizer } from './wasm-kernels/fused-adam';
export { useFusedWasmKernels } from './wasm-kernels/register';
export { resolveThreads } from './wasm-threads';
