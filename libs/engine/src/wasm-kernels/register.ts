/**
 * Registers the conv gradient kernels that @tensorflow/tfjs-backend-wasm lacks, so conv,
 * depthwise and separable conv layers can train on it. The registry is global and keyed by
 * (kernel, backend), so this affects only the wasm backend; a kernel already registered (by an
 * earlier call, or natively by a later tfjs release) is left alone, which makes it idempotent.
 * Two kernels the backend does have, Conv2DBackpropInput and Tile, are replaced by faster ones.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter';
import { conv2dBackpropInputConfig } from './conv2d-backprop-input';
import { depthwiseBackpropFilterConfig } from './depthwise-backprop-filter';
import { depthwiseBackpropInputConfig } from './depthwise-backprop-input';
import { tileConfig } from './tile';

const CONFIGS = [conv2dBackpropFilterConfig, depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig];

/** The kernels this module adds to the wasm backend. */
export const WASM_GRADIENT_KERNELS: readonly string[] = CONFIGS.map((c) => c.kernelName);

/**
 * Kernels the backend has but runs as scalar loops, on every training step's path: replaced
 * (the backend's own registration is removed first).
 */
const REPLACEMENTS = [conv2dBackpropInputConfig, tileConfig];

/** The kernels this module replaces in the wasm backend. */
export const WASM_REPLACED_KERNELS: readonly string[] = REPLACEMENTS.map((c) => c.kernelName);

/** Returns the names it registered now (empty when all were there already). */
export function registerWasmGradientKernels(): string[] {
  const added: string[] = [];
  for (const config of CONFIGS) {
    if (tf.getKernel(config.kernelName, config.backendName) !== undefined) continue;
    tf.registerKernel(config);
    added.push(config.kernelName);
  }
  for (const config of REPLACEMENTS) {
    const current = tf.getKernel(config.kernelName, config.backendName);
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current) tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
    added.push(config.kernelName);
  }
  return added;
}
