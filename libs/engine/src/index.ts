export type { EngineInfo } from './backend';
export { engineInfo, initEngine, missingKernels } from './backend';
export { readInto } from './read-into';
export { useFusedWasmKernels } from './wasm-kernels/register';
export { resolveThreads } from './wasm-threads';
