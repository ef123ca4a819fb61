/**
 * Mean for the wasm backend, wrapping the backend's own kernel for one case on every training
 * step's path: a global average pool, the mean of an NHWC tensor over its two spatial axes.
 *
 * The backend reduces only innermost axes, so for axes [1, 2] it first transposes the whole input
 * to put them last and then sums in a scalar loop: about 4 ms for [32, 3, 3, 1280], a quarter of a
 * cached training step of a small head. An average pool whose window is the whole image computes
 * the same means in XNNPACK (about 0.4 ms); the sums run in a different order, so results differ
 * from the backend's in the last bits (every rank runs the same kernel, so replicas still agree).
 * Means over every axis but the last (BatchNormalization's batch statistics) are one pass over the
 * heap (channel-reduce.ts). Every other reduction goes to the backend's kernel unchanged. The gradient is tfjs's own for
 * Mean, which does not depend on how the forward was computed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { channelReduce } from './channel-reduce';
import { asTensor } from './conv-geometry';

let original: tf.KernelFunc | undefined;

/** Keeps the backend's own kernel, which this one calls for every other reduction. */
export function wrapBackendMean(backendKernel: tf.KernelFunc): void {
  original = backendKernel;
}

export function mean(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
  const x = asTensor(args.inputs.x, 'x', 'Mean');
  const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + x.rank : a)).sort((a, b) => a - b);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  if (x.rank !== 4 || x.dtype !== 'float32' || axes.length !== 2 || axes[0] !== 1 || axes[1] !== 2 || h * w === 0) {
    const perChannel = channelReduce(args, true);
    if (perChannel) return perChannel;
    if (!original) throw new Error('Mean (wasm): the backend kernel was not registered first');
    return original(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  return tf.tidy(() => {
    const pooled = tf.avgPool(x as tf.Tensor4D, [h, w], 1, 'valid');
    return keepDims ? pooled : tf.reshape(pooled, [n, c]);
  });
}

export const meanConfig: tf.KernelConfig = {
  kernelName: tf.Mean,
  backendName: 'wasm',
  kernelFunc: mean as unknown as tf.KernelFunc,
};
