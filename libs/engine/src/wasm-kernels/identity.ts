/**
 * Identity for the wasm backend, wrapping the backend's own kernel: the output shares the
 * input's buffer (one more reference to it), as Reshape's output does on wasm and Identity's does
 * on the cpu backend, instead of a copy. Tensors are immutable and no wasm kernel writes into an
 * input, so a shared buffer is never seen to change.
 *
 * tfjs's engine runs Identity for every tensor a kernel saves for its gradient (each saved input
 * and output is cloned when the tape records it), so on a training step every activation a
 * convolution, batch normalisation or activation keeps was copied once more (about 6 ms of a
 * step over MobileNetV2's last 4 blocks). A caller that needs a buffer of its own (a key for
 * XNNPACK's operator caches, see conv2d-backprop-filter.ts) uses `copyOf`. Strings, and
 * everything while the fused kernels are switched off, go to the backend's kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedWasmKernels } from './fused-switch';

interface RefBackend {
  incRef(dataId: tf.DataId): void;
}

let original: tf.KernelFunc | undefined;

/** Keeps the backend's own kernel, which this one calls for strings and copyOf. */
export function wrapBackendIdentity(backendKernel: tf.KernelFunc): void {
  original = backendKernel;
}

function backendIdentity(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  if (!original) throw new Error('Identity (wasm): the backend kernel was not registered first');
  return original(args) as tf.TensorInfo;
}

export function identity(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const x = args.inputs.x;
  if (!x || x.dtype === 'string' || !fusedWasmKernels()) return backendIdentity(args as unknown as Parameters<tf.KernelFunc>[0]);
  (args.backend as unknown as RefBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/** A copy of x in a buffer of its own on wasm (elsewhere tf.clone). */
export function copyOf<T extends tf.Tensor>(x: T): T {
  if (tf.getBackend() !== 'wasm' || !original) return tf.clone(x);
  const info = backendIdentity({ inputs: { x }, backend: tf.engine().backend, attrs: {} });
  return tf.engine().makeTensorFromTensorInfo(info) as T;
}

export const identityConfig: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: identity as unknown as tf.KernelFunc,
};
