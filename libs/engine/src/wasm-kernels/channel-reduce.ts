/**
 * Sum and Mean over every axis but the last ([N,H,W,C] to [C]) on wasm. BatchNormalization in
 * training mode reduces this way: tf.moments for the batch statistics, and the gradients of its
 * broadcast subtraction and of the bias. The backend reduces only innermost axes, so it first
 * transposes the whole input to [C, N*H*W], then sums in a scalar loop. Seen as [1, rows, 1, C],
 * the same means are one XNNPACK average pool with a [rows, 1] window (about a tenth of the
 * time in a side-by-side run); sums are the means times the row count.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './conv-geometry';
import { fusedWasmKernels } from './fused-switch';

/** Whether `axis` names every axis of a rank-`rank` tensor but the last (rank >= 2). */
export function reducesLeadingAxes(axis: number | number[], rank: number): boolean {
  const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
  return rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
}

/** Per-channel means ([C]) of x [..., C] through an XNNPACK average pool; run inside a tidy. */
export function channelMeans(x: tf.Tensor): tf.Tensor1D {
  const c = x.shape.at(-1) as number;
  const rows = x.size / c;
  return tf.reshape(tf.avgPool(tf.reshape(x, [1, rows, 1, c]) as tf.Tensor4D, [rows, 1], 1, 'valid'), [c]);
}

/**
 * The per-channel sums (or means) of x as a kernel output, or undefined when the case is not
 * this one (dtype, axes, switch) and the caller should use the backend's own kernel.
 */
export function channelReduce(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }, mean: boolean): tf.Tensor | undefined {
  const info = args.inputs.x;
  const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
  if (!info || !fusedWasmKernels() || info.dtype !== 'float32' || !reducesLeadingAxes(axis, info.shape.length)) return undefined;
  const c = info.shape.at(-1) as number;
  const rows = info.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (c === 0 || rows === 0) return undefined;
  const shape = keepDims ? [...info.shape.slice(0, -1).map(() => 1), c] : [c];
  return tf.tidy(() => {
    const means = channelMeans(asTensor(info, 'x', mean ? 'Mean' : 'Sum'));
    return tf.reshape(mean ? means : tf.mul(means, rows), shape);
  });
}

let originalSum: tf.KernelFunc | undefined;

/** Keeps the backend's own Sum, which this one calls for every other reduction. */
export function wrapBackendSum(backendKernel: tf.KernelFunc): void {
  originalSum = backendKernel;
}

export function sum(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const fused = channelReduce(args, false);
  if (fused) return fused;
  if (!originalSum) throw new Error('Sum (wasm): the backend kernel was not registered first');
  return originalSum(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}

export const sumConfig: tf.KernelConfig = {
  kernelName: tf.Sum,
  backendName: 'wasm',
  kernelFunc: sum as unknown as tf.KernelFunc,
};
