export type { BackendChoice, ConcreteBackend, EngineInfo, EngineOptions } from './backend';
export { BACKENDS, engineInfo, initEngine, missingKernels } from './backend';
export { readInto } from './read-into';
export { useFusedWasmKernels } from './wasm-kernels/register';
