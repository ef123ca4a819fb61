/**
 * Optimizers as PyTorch users know them: sgd (optionally with momentum and nesterov) and adam,
 * with weight decay as an L2 term added to each gradient before the update (torch.optim's
 * `weight_decay`), applied to the trainable variables only.
 */
import { FusedAdamOptimizer } from '@permafrost/engine';
import * as tf from '@tensorflow/tfjs-core';

export interface OptimizerSpec {
  optimizer: 'sgd' | 'adam';
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

/** adam is tfjs's Adam whose update runs as one fused kernel per variable on wasm (libs/engine). */
export function createOptimizer(spec: OptimizerSpec): tf.Optimizer {
  if (spec.optimizer === 'adam') return new FusedAdamOptimizer(spec.lr);
  if (spec.momentum > 0) return tf.train.momentum(spec.lr, spec.momentum, spec.nesterov);
  return tf.train.sgd(spec.lr);
}

/** grad + weightDecay * value, for each named gradient; disposes the inputs it replaces. */
export function addWeightDecay(grads: tf.NamedTensorMap, vars: Map<string, tf.Variable>, weightDecay: number): tf.NamedTensorMap {
  if (weightDecay === 0) return grads;
  const out: tf.NamedTensorMap = {};
  for (const [name, g] of Object.entries(grads)) {
    const v = vars.get(name);
    out[name] = v ? tf.tidy(() => tf.add(g, tf.mul(v, weightDecay))) : g;
    if (v) g.dispose();
  }
  return out;
}
