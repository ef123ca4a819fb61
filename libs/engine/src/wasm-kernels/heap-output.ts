/**
 * A new output tensor on the wasm backend and typed views of it and of an input in the backend's
 * memory, for kernels that copy values themselves (slice.ts, reverse.ts).
 */
import type * as tf from '@tensorflow/tfjs-core';

interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

/** The output of `shape` in x's dtype, with views of x (`src`) and of it (`dst`). */
export function outputWithViews(
  backend: tf.KernelBackend,
  x: tf.TensorInfo,
  shape: number[],
): { out: tf.TensorInfo; src: tf.TypedArray; dst: tf.TypedArray } {
  const heap = backend as unknown as HeapBackend;
  const out = heap.makeOutput(shape, x.dtype);
  // views after the output's allocation: a growing heap replaces the buffer older views were on
  return { out, src: heap.typedArrayFromHeap(x), dst: heap.typedArrayFromHeap(out) };
}
