/**
 * Matrix products of a training step on the host's OpenBLAS (../native-gemm.ts): BatchMatMul,
 * _FusedMatMul and 1x1 convolutions (pointwise-conv.ts). The operands are views of the wasm heap
 * and the product is written into a new output tensor's memory: no copies, and transposed
 * operands are read in place (OpenBLAS takes the flags), where XNNPACK needs them transposed
 * first.
 *
 * Which products, and why not all: XNNPACK computes each output row the same way whatever the
 * number of rows, so a sample's output does not depend on the batch it is in. OpenBLAS's rounding
 * does (about 1e-6 relative, by the row count and the row's place in the call). A frozen prefix's
 * output must not: the cache stores it as computed in one batch and a run without the cache
 * computes it in another, and the two runs must train alike. So OpenBLAS takes
 *   - every product with a transpose flag: dx = dy W^T and dW = x^T dy of a backward pass;
 *   - forward products while a gradient tape records (tf.grad, variableGrads, a training step):
 *     the trainable layers, which see the same batches with the cache and without;
 * and a forward product outside a tape (the prefix, inference, validation) stays on XNNPACK.
 *
 * Batched products follow tfjs's broadcasting where one side's batch is a single matrix (its
 * stride is then 0) or both batches have the same shape. A bias must have one value per output
 * column; the activations are linear, relu, relu6 and leakyrelu. Any other form, another dtype,
 * and every product when OpenBLAS is unavailable or switched off, return undefined, and the
 * caller runs its XNNPACK path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeGemm } from '../native-gemm';

interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, leakyrelu: 3 };

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** Whether a gradient tape records the ops now running (tfjs's engine state; kernels run inside it). */
export function recordingGradients(): boolean {
  return (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
}

/** One product C = op(A) op(B) over `batch` matrices; A and B are read from a and b's memory. */
export interface GemmCall {
  a: tf.TensorInfo;
  b: tf.TensorInfo;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  batch: number;
  strideA: number;
  strideB: number;
  outShape: number[];
  bias?: tf.TensorInfo;
  activation?: string;
  alpha?: number;
}

/** Runs `call` on OpenBLAS into a new float32 output, or returns undefined (see above). */
export function nativeProduct(backend: tf.KernelBackend, call: GemmCall): tf.TensorInfo | undefined {
  const gemm = nativeGemm();
  const code = ACTIVATIONS[call.activation ?? 'linear'];
  if (!gemm || code === undefined || call.a.dtype !== 'float32' || call.b.dtype !== 'float32') return undefined;
  if (!(call.transA || call.transB || recordingGradients())) return undefined;
  if (call.bias && (call.bias.dtype !== 'float32' || size(call.bias.shape) !== call.n)) return undefined;
  const heap = backend as unknown as HeapBackend;
  const out = heap.makeOutput(call.outShape, 'float32');
  // views after the output's allocation: a growing heap replaces the buffer older views were on
  const view = (t: tf.TensorInfo) => heap.typedArrayFromHeap(t) as Float32Array;
  const c = view(out);
  gemm.gemm(call.transA, call.transB, call.m, call.n, call.k, view(call.a), view(call.b), c, call.batch, call.strideA, call.strideB);
  if (call.bias || code !== 0) gemm.biasActivation(c, call.n, call.bias ? view(call.bias) : null, code, call.alpha ?? 0.2);
  return out;
}

/** The product's extents from tfjs's BatchMatMul attributes, with its own error for a mismatch. */
export function productExtents(a: tf.TensorInfo, b: tf.TensorInfo, transA: boolean, transB: boolean) {
  const rows = (x: tf.TensorInfo) => x.shape[x.shape.length - 2] as number;
  const cols = (x: tf.TensorInfo) => x.shape[x.shape.length - 1] as number;
  const m = transA ? cols(a) : rows(a);
  const k = transA ? rows(a) : cols(a);
  const kB = transB ? cols(b) : rows(b);
  const n = transB ? rows(b) : cols(b);
  if (k !== kB) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kB}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transA} and transposeB=${transB} must match.`,
    );
  }
  return { m, n, k };
}

/** BatchMatMul / _FusedMatMul on OpenBLAS, or undefined for the caller's XNNPACK path. */
export function nativeBatchMatMul(
  backend: tf.KernelBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  attrs: { transposeA: boolean; transposeB: boolean; activation?: string; leakyreluAlpha?: number },
  bias?: tf.TensorInfo,
): tf.TensorInfo | undefined {
  if (!nativeGemm() || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const { transposeA, transposeB } = attrs;
  const { m, n, k } = productExtents(a, b, transposeA, transposeB);
  const batchDimsA = a.shape.slice(0, -2);
  const batchDimsB = b.shape.slice(0, -2);
  const batchA = size(batchDimsA);
  const batchB = size(batchDimsB);
  const outBatch = tf.broadcast_util.assertAndGetBroadcastShape(batchDimsA, batchDimsB);
  const batch = size(outBatch);
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return undefined;
  if (batchA === batchB && batch > 1 && batchDimsA.join() !== batchDimsB.join()) return undefined;
  return nativeProduct(backend, {
    a,
    b,
    transA: transposeA,
    transB: transposeB,
    m,
    n,
    k,
    batch,
    strideA: batchA === 1 ? 0 : m * k,
    strideB: batchB === 1 ? 0 : k * n,
    outShape: [...outBatch, m, n],
    bias,
    activation: attrs.activation,
    alpha: attrs.leakyreluAlpha,
  });
}

export type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };

/**
 * A wasm kernel `name` that runs `take` (a product on OpenBLAS, or undefined) and otherwise the
 * backend's own kernel, which registration hands to `wrap` first (register.ts).
 */
export function nativeFirst(name: string, take: (args: KernelArgs) => tf.TensorInfo | undefined) {
  let original: tf.KernelFunc | undefined;
  const config: tf.KernelConfig = {
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: ((args: KernelArgs) => {
      const out = take(args);
      if (out) return out;
      if (!original) throw new Error(`${name} (wasm): the backend kernel was not registered first`);
      return original(args as unknown as Parameters<tf.KernelFunc>[0]);
    }) as unknown as tf.KernelFunc,
  };
  return {
    config,
    wrap: (backendKernel: tf.KernelFunc): void => {
      original = backendKernel;
    },
  };
}
