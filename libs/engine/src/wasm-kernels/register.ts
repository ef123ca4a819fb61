/**
 * Registers the conv gradient kernels that @tensorflow/tfjs-backend-wasm lacks, so conv,
 * depthwise and separable conv layers can train on it. The registry is global and keyed by
 * (kernel, backend), so this affects only the wasm backend; a kernel already registered (by an
 * earlier call, or natively by a later tfjs release) is left alone, which makes it idempotent.
 * Kernels the backend does have but runs slowly on every training step's path are replaced:
 * Conv2DBackpropInput, Tile and Slice (slice.ts) outright; BatchMatMul's transposed forms (batch-mat-mul.ts) and
 * Mean over NHWC's spatial axes (mean.ts) and Sum and Mean over all axes but the last
 * (channel-reduce.ts) by wrappers around the backend's own kernels, which
 * keep the backend's setup (it binds the wasm functions) since the backend initializes after
 * this runs; FusedBatchNorm (batch-norm.ts), Identity (identity.ts, which shares the input's
 * buffer instead of copying it) and Reverse (reverse.ts, runs copied whole) the same way.
 * Where the host's OpenBLAS loads (../native-gemm.ts), a training step's matrix products run on
 * it (native-matmul.ts): BatchMatMul and _FusedMatMul (batch-mat-mul.ts), Conv2D and FusedConv2D
 * with a 1x1 filter (pointwise-conv.ts); the rest of each on the backend's kernel.
 *
 * Fused gradients: relu6, clipByValue (activation-grad.ts) and FusedBatchNorm
 * (batch-norm-grad.ts) get a gradient that runs one kernel of this module on wasm and tfjs's own
 * gradient on every other backend. AdamUpdate (adam-update.ts) is one variable's Adam step, which
 * FusedAdamOptimizer (fused-adam.ts) runs on wasm; BatchNormTraining (batch-norm-training.ts) is
 * a BatchNormalization layer's training-mode forward with its own gradient, which the layer runs
 * on wasm. A ReLU layer with maxValue 6 runs tf.relu6 on wasm (relu6-layer.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { clipByValueGradConfig, overrideActivationGradients, relu6GradConfig } from './activation-grad';
import { adamUpdateConfig } from './adam-update';
import { batchMatMulConfig, fusedMatMulConfig, wrapBackendBatchMatMul, wrapBackendFusedMatMul } from './batch-mat-mul';
import { batchNormConfig, wrapBackendBatchNorm } from './batch-norm';
import { batchNormGradConfig, overrideBatchNormGradient } from './batch-norm-grad';
import { batchNormTrainingConfig, useTrainingBatchNorm } from './batch-norm-training';
import { sumConfig, wrapBackendSum } from './channel-reduce';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter';
import { conv2dBackpropInputConfig } from './conv2d-backprop-input';
import { depthwiseBackpropFilterConfig } from './depthwise-backprop-filter';
import { depthwiseBackpropInputConfig } from './depthwise-backprop-input';
import { identityConfig, wrapBackendIdentity } from './identity';
import { meanConfig, wrapBackendMean } from './mean';
import { conv2dConfig, fusedConv2dConfig, wrapBackendConv2D, wrapBackendFusedConv2D } from './pointwise-conv';
import { useRelu6Layer } from './relu6-layer';
import { reverseConfig, wrapBackendReverse } from './reverse';
import { sliceConfig } from './slice';
import { tileConfig } from './tile';

const CONFIGS = [
  conv2dBackpropFilterConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  relu6GradConfig,
  clipByValueGradConfig,
  batchNormGradConfig,
];

/** The gradient kernels this module adds to the wasm backend. */
export const WASM_GRADIENT_KERNELS: readonly string[] = CONFIGS.map((c) => c.kernelName);

/** Kernels for training that tfjs has no name for: an optimizer's update, a layer's training forward. */
const TRAINING_CONFIGS = [adamUpdateConfig, batchNormTrainingConfig];

export const WASM_TRAINING_KERNELS: readonly string[] = TRAINING_CONFIGS.map((c) => c.kernelName);

/**
 * Kernels the backend has but runs as scalar loops, on every training step's path: replaced
 * (the backend's own registration is removed first).
 */
const REPLACEMENTS = [
  conv2dBackpropInputConfig,
  tileConfig,
  sliceConfig,
  batchMatMulConfig,
  meanConfig,
  batchNormConfig,
  sumConfig,
  identityConfig,
  reverseConfig,
  fusedMatMulConfig,
  conv2dConfig,
  fusedConv2dConfig,
];

/** Replacements that call the backend's kernel they replace, and how each is handed it. */
const WRAPPERS = new Map<tf.KernelConfig, (backendKernel: tf.KernelFunc) => void>([
  [batchMatMulConfig, wrapBackendBatchMatMul],
  [meanConfig, wrapBackendMean],
  [batchNormConfig, wrapBackendBatchNorm],
  [sumConfig, wrapBackendSum],
  [identityConfig, wrapBackendIdentity],
  [reverseConfig, wrapBackendReverse],
  [fusedMatMulConfig, wrapBackendFusedMatMul],
  [conv2dConfig, wrapBackendConv2D],
  [fusedConv2dConfig, wrapBackendFusedConv2D],
]);

/** The kernels this module replaces in the wasm backend. */
export const WASM_REPLACED_KERNELS: readonly string[] = REPLACEMENTS.map((c) => c.kernelName);

/** Returns the names it registered now (empty when all were there already). */
export function registerWasmGradientKernels(): string[] {
  const added: string[] = [];
  for (const config of [...CONFIGS, ...TRAINING_CONFIGS]) {
    if (tf.getKernel(config.kernelName, config.backendName) !== undefined) continue;
    tf.registerKernel(config);
    added.push(config.kernelName);
  }
  for (const config of REPLACEMENTS) {
    const current = tf.getKernel(config.kernelName, config.backendName);
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current) tf.unregisterKernel(config.kernelName, config.backendName);
    const wrap = WRAPPERS.get(config);
    if (wrap) {
      if (!current) throw new Error(`the wasm backend has no ${config.kernelName} kernel to wrap`);
      wrap(current.kernelFunc);
      tf.registerKernel({ ...config, setupFunc: current.setupFunc });
    } else {
      tf.registerKernel(config);
    }
    added.push(config.kernelName);
  }
  overrideActivationGradients();
  overrideBatchNormGradient();
  useTrainingBatchNorm();
  useRelu6Layer();
  return added;
}

export { useFusedWasmKernels } from './fused-switch';
