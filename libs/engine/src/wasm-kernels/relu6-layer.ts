/**
 * tfjs-layers' ReLU layer with maxValue 6 (MobileNetV2's activation) as one Relu6 on wasm. The
 * layer computes clipByValue(relu(x), 0, 6): two kernels forward and, backward, Relu's gradient
 * (Step, Cast, Multiply) and ClipByValue's (a fused kernel of six passes, activation-grad.ts).
 * Relu6 is one kernel forward and its fused gradient one of five passes. The values are the
 * same, and so are the gradients, ends included: both pass dy where 0 < x <= 6 and give 0
 * elsewhere (Relu's gradient is 0 at x = 0, ClipByValue's passes x = 6).
 *
 * `useRelu6Layer` routes the layer's call through tf.relu6 on wasm with the fused kernels on, for
 * a float32 input and maxValue 6; every other case is the layer's own call.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fusedWasmKernels } from './fused-switch';

type Call = (this: { maxValue?: number }, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

let patched = false;

/** Routes ReLU(maxValue 6) through Relu6 on wasm (idempotent). */
export function useRelu6Layer(): void {
  if (patched) return;
  patched = true;
  const proto = Object.getPrototypeOf(tfl.layers.reLU({ maxValue: 6 })) as { call: Call };
  const own = proto.call;
  proto.call = function (this: { maxValue?: number }, inputs, kwargs) {
    const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
    if (this.maxValue === 6 && x?.dtype === 'float32' && tf.getBackend() === 'wasm' && fusedWasmKernels()) return tf.relu6(x);
    return own.call(this, inputs, kwargs);
  };
}
