/**
 * Gradients that run as one fused wasm kernel. tfjs keeps one gradient per kernel name for all
 * backends, so an override here keeps tfjs's own gradient function and calls it whenever the
 * active backend is not wasm or the fused kernel does not cover the case: the tensorflow and cpu
 * backends compute exactly what they did before.
 *
 * tfjs-layers registers tfjs's gradients when it loads, over whatever is registered then; it is
 * imported here first so that the overrides are registered after it and stay.
 */
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { fusedWasmKernels } from './fused-switch';

/** Returns the fused gradient, or undefined to fall back to tfjs's own. */
export type FusedGradient = (dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap) => Record<string, () => tf.Tensor> | undefined;

const overrides = new WeakSet<tf.GradConfig>();

/** Registers `fused` for `kernelName` (idempotent); returns whether it registered now. */
export function overrideGradient(kernelName: string, fused: FusedGradient): boolean {
  const original = tf.getGradient(kernelName);
  if (!original?.gradFunc) throw new Error(`no gradient registered for ${kernelName} to override`);
  if (overrides.has(original)) return false;
  const fallback = original.gradFunc;
  const config: tf.GradConfig = {
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const grads = tf.getBackend() === 'wasm' && fusedWasmKernels() && !Array.isArray(dy) ? fused(dy, saved, attrs) : undefined;
      return grads ?? fallback(dy, saved, attrs);
    },
  };
  overrides.add(config);
  tf.registerGradient(config);
  return true;
}
