/**
 * BatchMatMul for the wasm backend, wrapping the backend's own kernel for the transposed forms a
 * dense layer's gradient asks for: dx = dy * W^T and dW = x^T * dy.
 *
 * The backend hands the right-hand operand to XNNPACK as the "weights" of a fully connected
 * operator, which packs them first; with a transpose flag set that path is several times slower
 * again (about 9 ms for a 32x128 by 128x1280 product whose arithmetic takes well under 1 ms).
 * A gradient's operands are new tensors every step, so nothing is ever reused from that packing.
 *
 * So for a single (unbatched) product with a transpose flag this kernel writes op(A) * op(B) in
 * whichever of two forms moves the fewest elements, and calls the backend's kernel without flags:
 *   direct:    op(A) * op(B)                 packs op(B)
 *   swapped:   (op(B)^T * op(A)^T)^T         packs op(A)^T, transposes the result
 * where op(X)^T is X itself when X's flag is set, and a Transpose otherwise. For dx = dy * W^T the
 * swapped form packs the small dy^T instead of W; for dW = x^T * dy the direct form packs dy.
 * Products without flags (forward passes, whose weights XNNPACK caches between calls at
 * inference) and batched products go to the backend's kernel unchanged.
 *
 * All of that is the fallback: where the host's OpenBLAS is loaded (native-matmul.ts) the
 * products with a transpose flag, batched or not, and _FusedMatMul and the products without a
 * flag while a gradient tape records, run there, reading transposed operands in place.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './conv-geometry';
import { nativeBatchMatMul, nativeFirst, productExtents } from './native-matmul';

interface Attrs {
  transposeA: boolean;
  transposeB: boolean;
}

let original: tf.KernelFunc | undefined;

/** Keeps the backend's own kernel, which this one calls; registration hands it over first. */
export function wrapBackendBatchMatMul(backendKernel: tf.KernelFunc): void {
  original = backendKernel;
}

/** The backend's kernel on two 2-D tensors, no flags. */
function plain(a: tf.Tensor, b: tf.Tensor, backend: tf.KernelBackend): tf.Tensor {
  if (!original) throw new Error('BatchMatMul (wasm): the backend kernel was not registered first');
  const out = original({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } }) as tf.TensorInfo;
  return tf.engine().makeTensorFromTensorInfo(out);
}

const flip = (x: tf.Tensor) => tf.transpose(x, [1, 0]);

export function batchMatMul(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { transposeA, transposeB } = args.attrs as unknown as Attrs;
  const native = nativeBatchMatMul(args.backend, args.inputs.a as tf.TensorInfo, args.inputs.b as tf.TensorInfo, {
    transposeA,
    transposeB,
  });
  if (native) return native;
  const a = asTensor(args.inputs.a, 'a', 'BatchMatMul');
  const b = asTensor(args.inputs.b, 'b', 'BatchMatMul');
  const batchA = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const batchB = b.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  if ((!transposeA && !transposeB) || batchA !== 1 || batchB !== 1 || a.dtype !== 'float32' || b.dtype !== 'float32') {
    if (!original) throw new Error('BatchMatMul (wasm): the backend kernel was not registered first');
    return original(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  const cols = (x: tf.Tensor) => x.shape[x.rank - 1] as number;
  // op(A) is m x k, op(B) is k x n
  const { m, n, k } = productExtents(a, b, transposeA, transposeB);
  const outShape = [...(a.rank >= b.rank ? a.shape : b.shape).slice(0, -2), m, n];
  // elements moved: packing the right operand, plus every transpose on the way
  const direct = k * n + (transposeA ? m * k : 0) + (transposeB ? k * n : 0);
  const swapped = m * k + (transposeA ? 0 : m * k) + (transposeB ? 0 : k * n) + m * n;
  return tf.tidy(() => {
    const a2 = tf.reshape(a, [a.shape[a.rank - 2] as number, cols(a)]);
    const b2 = tf.reshape(b, [b.shape[b.rank - 2] as number, cols(b)]);
    let out: tf.Tensor;
    if (direct <= swapped) {
      out = plain(transposeA ? flip(a2) : a2, transposeB ? flip(b2) : b2, args.backend);
    } else {
      // op(B)^T is B when B's flag is set; op(A)^T is A when A's flag is set
      out = flip(plain(transposeB ? b2 : flip(b2), transposeA ? a2 : flip(a2), args.backend));
    }
    return tf.reshape(out, outShape);
  });
}

export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: tf.BatchMatMul,
  backendName: 'wasm',
  kernelFunc: batchMatMul as unknown as tf.KernelFunc,
};

/** _FusedMatMul (a dense layer's forward, bias and activation included): OpenBLAS, else the backend's. */
const fused = nativeFirst(tf._FusedMatMul, ({ inputs: { a, b, bias, preluActivationWeights }, backend, attrs }) =>
  a && b && !preluActivationWeights
    ? nativeBatchMatMul(backend, a, b, attrs as unknown as Attrs & { activation?: string; leakyreluAlpha?: number }, bias)
    : undefined,
);

export const fusedMatMulConfig = fused.config;
export const wrapBackendFusedMatMul = fused.wrap;
