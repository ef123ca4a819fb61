/**
 * Registers the conv gradient kernels that @tensorflow/tfjs-backend-wasm lacks, so conv,
 * depthwise and separable conv layers can train on it. The registry is global and keyed by
 * (kernel, backend), so this affects only the wasm backend; a kernel already registered (by an
 * earlier call, or natively by a later tfjs release) is left alone, which makes it idempotent.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter';
import { depthwiseBackpropFilterConfig } from './depthwise-backprop-filter';
import { depthwiseBackpropInputConfig } from './depthwise-backprop-input';

const CONFIGS = [conv2dBackpropFilterConfig, depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig];

/** The kernels this module adds to the wasm backend. */
export const WASM_GRADIENT_KERNELS: readonly string[] = CONFIGS.map((c) => c.kernelName);

/** Returns the names it registered now (empty when all were there already). */
export function registerWasmGradientKernels(): string[] {
  const added: string[] = [];
  for (const config of CONFIGS) {
    if (tf.getKernel(config.kernelName, config.backendName) !== undefined) continue;
    tf.registerKernel(config);
    added.push(config.kernelName);
  }
  return added;
}
