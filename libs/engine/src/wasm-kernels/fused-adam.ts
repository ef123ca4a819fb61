/**
 * tf.train.adam with its update as one AdamUpdate kernel per variable on wasm (adam-update.ts).
 * It is a tfjs AdamOptimizer with the same state (the iteration count, beta1 and beta2 to the
 * power of the step, one m and one v variable per trained variable, by position), so checkpoints,
 * getWeights and setWeights are tfjs's own and the state moves freely between this class and
 * tfjs's. On every other backend, with the fused kernels switched off, or for a gradient that is
 * not float32, it runs tfjs's own update.
 *
 * `applyScaled` takes the gradient before the trainer's division by the batch's sample count and
 * its weight decay and does both in the same pass; it answers false (and does nothing) where the
 * kernel does not apply, and the caller then divides, decays and calls applyGradients as before.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ADAM_UPDATE, type AdamUpdateAttrs } from './adam-update';
import { fusedWasmKernels } from './fused-switch';

interface Slot {
  originalName: string;
  variable: tf.Variable;
}

/** AdamOptimizer's state, private in its typings. */
interface AdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Slot[];
  accumulatedSecondMoment: Slot[];
}

const scalarOf = (t: tf.Tensor) => (t.dataSync() as Float32Array)[0] as number;

export class FusedAdamOptimizer extends tf.AdamOptimizer {
  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999, epsilon?: number) {
    super(learningRate, beta1, beta2, epsilon);
  }

  override applyGradients(variableGradients: Parameters<tf.Optimizer['applyGradients']>[0]): void {
    let grads: tf.NamedTensorMap;
    if (Array.isArray(variableGradients)) grads = Object.fromEntries(variableGradients.map((g) => [g.name, g.tensor]));
    else grads = variableGradients;
    // a list that names a variable twice keeps tfjs's meaning (two updates)
    const distinct = !Array.isArray(variableGradients) || Object.keys(grads).length === variableGradients.length;
    const fused = distinct && this.applyScaled(grads, 1, 0);
    if (!fused) super.applyGradients(variableGradients as Parameters<tf.AdamOptimizer['applyGradients']>[0]);
  }

  /**
   * The update for grad / gradDivisor + weightDecay * value, each variable of `grads` (by name,
   * in key order, as applyGradients takes them) in one kernel; false where the kernel does not
   * apply (nothing changed then).
   */
  applyScaled(grads: tf.NamedTensorMap, gradDivisor: number, weightDecay: number): boolean {
    const names = Object.keys(grads);
    const variables = names.map((n) => tf.engine().registeredVariables[n]);
    const fits =
      tf.getBackend() === 'wasm' &&
      fusedWasmKernels() &&
      names.every((n, i) => grads[n]?.dtype === 'float32' && variables[i]?.dtype === 'float32');
    if (!fits) return false;
    const state = this as unknown as AdamState;
    const attrs: AdamUpdateAttrs = {
      learningRate: state.learningRate,
      beta1: state.beta1,
      beta2: state.beta2,
      epsilon: state.epsilon,
      accBeta1: scalarOf(state.accBeta1),
      accBeta2: scalarOf(state.accBeta2),
      gradDivisor,
      weightDecay,
    };
    names.forEach((name, i) => {
      const value = variables[i] as tf.Variable;
      const m = slot(state.accumulatedFirstMoment, i, `${name}/m`, value);
      const v = slot(state.accumulatedSecondMoment, i, `${name}/v`, value);
      const out = tf
        .engine()
        .runKernel(ADAM_UPDATE, { x: value, m, v, grad: grads[name] as tf.Tensor }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      value.assign(out[0] as tf.Tensor);
      m.assign(out[1] as tf.Tensor);
      v.assign(out[2] as tf.Tensor);
      tf.dispose(out);
    });
    tf.tidy(() => {
      state.accBeta1.assign(tf.mul(state.accBeta1, state.beta1));
      state.accBeta2.assign(tf.mul(state.accBeta2, state.beta2));
    });
    this.incrementIterations();
    return true;
  }
}

/** The i-th moment variable, made (zeros, not trainable) as tfjs makes it on first use. */
function slot(slots: Slot[], i: number, originalName: string, value: tf.Variable): tf.Variable {
  let s = slots[i];
  if (!s) {
    s = { originalName, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
    slots[i] = s;
  }
  return s.variable;
}
