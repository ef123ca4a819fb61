/**
 * AdamUpdate, one variable's Adam step on wasm as one pass over its value, its two moments and
 * its gradient. tfjs's AdamOptimizer runs about thirteen kernels per variable (Multiply, Add,
 * Square, RealDiv, Sqrt and more, each a full pass with a new tensor) and the trainer two more
 * before it (the division by the batch's sample count, the weight decay); over the last blocks
 * of MobileNetV2 that was most of a training step's elementwise time and hundreds of kernel
 * calls' bookkeeping.
 *
 * Inputs x (the value), m, v (the moments) and grad, all float32 of one shape; outputs the new
 * x, m and v (new buffers: a variable's buffer may be shared by a clone elsewhere, so nothing is
 * written in place). With g = grad / gradDivisor + weightDecay * x:
 *
 *   m' = m * beta1 + g * (1 - beta1)        v' = v * beta2 + g^2 * (1 - beta2)
 *   x' = x + (m' / (1 - accBeta1)) / (sqrt(v' / (1 - accBeta2)) + epsilon) * -learningRate
 *
 * tfjs's formulas in tfjs's order, in double precision and rounded to float32 where a value is
 * stored, so the update equals tf.train.adam's after the trainer's division and weight decay to
 * within a few float32 roundings (relative 1e-6; the spec holds it to that).
 */
import type * as tf from '@tensorflow/tfjs-core';

export const ADAM_UPDATE = 'AdamUpdate';

export interface AdamUpdateAttrs {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** beta1 and beta2 to the power of the step number, as the optimizer keeps them (float32) */
  accBeta1: number;
  accBeta2: number;
  /** the gradient is divided by this first (1: as it is) */
  gradDivisor: number;
  /** then weightDecay * x is added (0: none) */
  weightDecay: number;
}

interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

const f = Math.fround;

/**
 * The update over plain arrays: x, m, v, grad in; x', m', v' out (x2 may not alias x). Computed
 * in double precision with every constant rounded to float32 as tfjs's scalars are, and the
 * divisions by constants as products with their reciprocals (a JavaScript division or square
 * root costs several times a product: this loop has one of each per element).
 */
export function adamPass(arrays: Float32Array[], a: AdamUpdateAttrs): void {
  const [x, m, v, g, x2, m2, v2] = arrays as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  const b1 = f(a.beta1);
  const c1 = f(1 - a.beta1);
  const b2 = f(a.beta2);
  const c2 = f(1 - a.beta2);
  const r1 = 1 / f(1 - f(a.accBeta1));
  const r2 = 1 / f(1 - f(a.accBeta2));
  const eps = f(a.epsilon);
  const step = f(-a.learningRate);
  const scale = 1 / f(a.gradDivisor);
  const decay = f(a.weightDecay);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i] as number;
    const gi = (g[i] as number) * scale + xi * decay;
    const mi = (m[i] as number) * b1 + gi * c1;
    const vi = (v[i] as number) * b2 + gi * gi * c2;
    m2[i] = mi;
    v2[i] = vi;
    x2[i] = xi + (step * (mi * r1)) / (Math.sqrt(vi * r2) + eps);
  }
}

function adamUpdate(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const backend = args.backend as unknown as HeapBackend;
  const ins = ['x', 'm', 'v', 'grad'].map((k) => {
    const t = args.inputs[k];
    if (!t) throw new Error(`${ADAM_UPDATE}: input '${k}' is missing`);
    if (t.dtype !== 'float32') throw new Error(`${ADAM_UPDATE}: input '${k}' is ${t.dtype}, not float32`);
    return t;
  }) as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
  const shape = ins[0].shape;
  const size = shape.reduce((p, d) => p * d, 1);
  for (const t of ins) {
    if (t.shape.reduce((p, d) => p * d, 1) !== size)
      throw new Error(`${ADAM_UPDATE}: shapes ${ins.map((i) => `[${i.shape}]`).join(', ')} differ`);
  }
  const outs = [0, 1, 2].map(() => backend.makeOutput([...shape], 'float32'));
  // views after every allocation: a growing heap replaces the buffer earlier views were made on
  const views = [...ins, ...outs].map((t) => backend.typedArrayFromHeap({ ...t, shape: [size] }));
  adamPass(views, args.attrs as unknown as AdamUpdateAttrs);
  return outs;
}

export const adamUpdateConfig: tf.KernelConfig = {
  kernelName: ADAM_UPDATE,
  backendName: 'wasm',
  kernelFunc: adamUpdate as unknown as tf.KernelFunc,
};
