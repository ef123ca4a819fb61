/**
 * FusedBatchNorm for the wasm backend, wrapping the backend's own kernel for the case every
 * BatchNormalization layer of a convolutional network runs: x [N,H,W,C] with per-channel mean,
 * variance, scale and offset. The backend's kernel is a scalar loop that takes each element's
 * channel by a modulo (about half of MobileNetV2's inference time at 96x96). Per channel the
 * normalisation is an affine map, y = x * a + b with a = scale / sqrt(variance + epsilon) and
 * b = offset - mean * a; a depthwise 1x1 convolution with filter a and bias b computes it in one
 * XNNPACK pass. The results differ from the backend's in the last bits (the same kernel runs on
 * every rank and on cached and uncached paths alike). Every other case goes to the backend's
 * kernel. The gradient is tfjs's (or batch-norm-grad.ts), from the inputs, not from this kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './conv-geometry';
import { fusedWasmKernels } from './fused-switch';

let original: tf.KernelFunc | undefined;

/** Keeps the backend's own kernel, which this one calls for every other case. */
export function wrapBackendBatchNorm(backendKernel: tf.KernelFunc): void {
  original = backendKernel;
}

function perChannel(t: tf.TensorInfo | undefined, c: number): boolean {
  return t !== undefined && t.shape.length === 1 && t.shape[0] === c && t.dtype === 'float32';
}

export function batchNorm(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x, mean, variance, scale, offset } = args.inputs;
  const { varianceEpsilon } = args.attrs as unknown as { varianceEpsilon: number };
  const c = x?.shape[3] ?? 0;
  const fits =
    fusedWasmKernels() &&
    x?.shape.length === 4 &&
    x.dtype === 'float32' &&
    c > 0 &&
    [mean, variance, scale, offset].every((t) => perChannel(t, c));
  if (!fits) {
    if (!original) throw new Error('FusedBatchNorm (wasm): the backend kernel was not registered first');
    return original(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  return tf.tidy(() => {
    const input = asTensor(x, 'x', 'FusedBatchNorm') as tf.Tensor4D;
    const [m, v, g, b] = [mean, variance, scale, offset].map((t, i) => asTensor(t, `input ${i}`, 'FusedBatchNorm')) as tf.Tensor1D[];
    const a = tf.mul(g as tf.Tensor1D, tf.rsqrt(tf.add(v as tf.Tensor1D, varianceEpsilon)));
    const bias = tf.sub(b as tf.Tensor1D, tf.mul(m as tf.Tensor1D, a));
    return tf.fused.depthwiseConv2d({ x: input, filter: tf.reshape(a, [1, 1, c, 1]), strides: 1, pad: 'valid', bias });
  });
}

export const batchNormConfig: tf.KernelConfig = {
  kernelName: tf.FusedBatchNorm,
  backendName: 'wasm',
  kernelFunc: batchNorm as unknown as tf.KernelFunc,
};
