/**
 * Copies a float32 tensor's values into a caller's array without allocating.
 *
 * tensor.data() and dataSync() hand back a fresh copy every call: a training step that reads its
 * gradient that way allocates the gradient's size in ArrayBuffers per step, and V8 answers the
 * growing external memory with full collections several times a second, marked on background
 * threads that take CPU from the other workers of the host. The wasm backend keeps every tensor
 * in its heap, so there the values are copied straight from a view of it; other backends fall
 * back to dataSync().
 */
import * as tf from '@tensorflow/tfjs-core';

interface HeapBackend {
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

export function readInto(t: tf.Tensor, dst: Float32Array, offset = 0): void {
  if (t.dtype !== 'float32') throw new TypeError(`readInto reads float32 tensors, not ${t.dtype}`);
  const backend = tf.engine().backend as unknown as Partial<HeapBackend>;
  if (tf.getBackend() === 'wasm' && typeof backend.typedArrayFromHeap === 'function') {
    dst.set(backend.typedArrayFromHeap({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }), offset);
  } else {
    dst.set(t.dataSync() as Float32Array, offset);
  }
}
