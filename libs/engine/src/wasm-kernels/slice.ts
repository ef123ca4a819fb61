/**
 * Slice for the wasm backend, replacing the backend's own kernel, which copies a slice that is
 * not one contiguous block element by element in JavaScript (about 6 ms to crop a
 * [64,28,28,16] gradient by one row and column). The strided conv gradients crop and shift
 * activations with Slice on every training step (conv2d-backprop-input.ts, conv-geometry.ts).
 *
 * A slice of a row-major array is a set of equal contiguous runs: the trailing axes the slice
 * covers whole, times the extent of the first axis (from the end) it cuts. So the output is
 * filled run by run with TypedArray.set, each one a memcpy, and the walk over the outer axes
 * costs one index update per run, not per element.
 */
import * as tf from '@tensorflow/tfjs-core';
import { outputWithViews } from './heap-output';

/** The contiguous run length and the axes outside it, for a slice of `shape` at `begin` of `size`. */
function runs(shape: readonly number[], begin: readonly number[], size: readonly number[]) {
  let run = 1;
  let axis = shape.length - 1;
  // trailing axes the slice covers whole join the run, then the first axis it cuts
  while (axis >= 0 && begin[axis] === 0 && size[axis] === shape[axis]) run *= shape[axis--] as number;
  if (axis >= 0) run *= size[axis--] as number;
  return { run, outer: axis + 1 };
}

export function slice(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const attrs = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
  const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs.begin, attrs.size) as [number[], number[]];
  tf.slice_util.assertParamsValid(x as unknown as tf.Tensor, begin, size);
  const { out, src, dst } = outputWithViews(args.backend, x, size);
  if (size.some((d) => d === 0)) return out;
  const { run, outer } = runs(x.shape, begin, size);
  // elements per step of each axis, the innermost's included
  const strides = [...tf.util.computeStrides(x.shape), 1];
  const index = begin.slice(0, outer);
  let from = begin.reduce((o, b, i) => o + b * (strides[i] as number), 0);
  for (let to = 0; to < dst.length; to += run) {
    dst.set(src.subarray(from, from + run), to);
    // next outer index, odometer-style; `from` follows it by the strides
    for (let a = outer - 1; a >= 0; a--) {
      const stride = strides[a] as number;
      if ((index[a] as number) + 1 < (begin[a] as number) + (size[a] as number)) {
        index[a] = (index[a] as number) + 1;
        from += stride;
        break;
      }
      from -= ((index[a] as number) - (begin[a] as number)) * stride;
      index[a] = begin[a] as number;
    }
  }
  return out;
}

export const sliceConfig: tf.KernelConfig = {
  kernelName: tf.Slice,
  backendName: 'wasm',
  kernelFunc: slice as unknown as tf.KernelFunc,
};
