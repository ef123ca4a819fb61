/** Test support for kernels (`@permafrost/engine/testing`, for specs and tests only). */
export { relativeError } from './wasm-kernels/kernel-testing';
