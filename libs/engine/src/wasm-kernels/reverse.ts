/**
 * Reverse for the wasm backend, wrapping the backend's own kernel, which computes a source index
 * per element (about 0.45 ms to flip a [3,3,960,1] depthwise filter, 50 ns per value). The conv
 * gradients flip their filter's spatial axes on every training step (depthwise-backprop-input.ts,
 * conv2d-backprop-input.ts).
 *
 * When the innermost axis keeps its order, the output is made of contiguous runs of the input:
 * the trailing axes that are not reversed. Each run is copied whole with TypedArray.set, to the
 * position the reversed outer index gives it. A reversed innermost axis (runs of one value), and
 * everything while the fused kernels are switched off, go to the backend's kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedWasmKernels } from './fused-switch';
import { outputWithViews } from './heap-output';

let original: tf.KernelFunc | undefined;

/** Keeps the backend's own kernel, which this one calls for the cases it leaves alone. */
export function wrapBackendReverse(backendKernel: tf.KernelFunc): void {
  original = backendKernel;
}

type Args = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };

function backendReverse(args: Args): tf.TensorInfo {
  if (!original) throw new Error('Reverse (wasm): the backend kernel was not registered first');
  return original(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}

export function reverse(args: Args): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const rank = x.shape.length;
  const axes = new Set(tf.util.parseAxisParam((args.attrs as unknown as { dims: number | number[] }).dims, x.shape));
  if (rank === 0 || axes.has(rank - 1) || x.dtype === 'string' || !fusedWasmKernels()) return backendReverse(args);
  // the run: the trailing axes after the last reversed one
  const outer = Math.max(...axes, -1) + 1;
  const run = x.shape.slice(outer).reduce((p, d) => p * d, 1);
  const { out, src, dst } = outputWithViews(args.backend, x, [...x.shape]);
  if (run === 0 || x.shape.some((d) => d === 0)) return out;
  const shape = x.shape.slice(0, outer);
  const index = shape.map(() => 0);
  for (let to = 0; to < dst.length; to += run) {
    // the source run: each reversed axis read from its far end
    let from = 0;
    for (let a = 0; a < outer; a++) {
      const d = shape[a] as number;
      from = from * d + (axes.has(a) ? d - 1 - (index[a] as number) : (index[a] as number));
    }
    dst.set(src.subarray(from * run, from * run + run), to);
    for (let a = outer - 1; a >= 0; a--) {
      index[a] = (index[a] as number) + 1;
      if ((index[a] as number) < (shape[a] as number)) break;
      index[a] = 0;
    }
  }
  return out;
}

export const reverseConfig: tf.KernelConfig = {
  kernelName: tf.Reverse,
  backendName: 'wasm',
  kernelFunc: reverse as unknown as tf.KernelFunc,
};
