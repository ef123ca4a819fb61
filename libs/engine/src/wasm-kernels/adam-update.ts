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
 * in tfjs's order of operations, each rounded to float32 as its kernels round it, so the update
 * equals tf.train.adam's after the trainer's division and weight decay. The loop is a WebAssembly
 * SIMD function over the backend's memory (adam-simd.ts), four floats at a time; the last floats
 * of a size that is not a multiple of 4 (and every float where SIMD is missing) take the same
 * arithmetic in JavaScript.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { adamSimd, backendMemory } from './adam-simd';

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
  wasm: unknown;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  getMemoryOffset(dataId: tf.DataId): number;
}

const f = Math.fround;

/** The float32 constants of the update, as tfjs's scalars round them. */
function constants(a: AdamUpdateAttrs): number[] {
  const [b1, b2] = [f(a.beta1), f(a.beta2)];
  const [c1, c2] = [f(1 - a.beta1), f(1 - a.beta2)];
  const [d1, d2] = [f(1 - f(a.accBeta1)), f(1 - f(a.accBeta2))];
  return [b1, c1, b2, c2, d1, d2, f(a.epsilon), f(-a.learningRate), f(a.gradDivisor), f(a.weightDecay)];
}

/**
 * The update over plain arrays from element `from` on: x, m, v, grad in; x', m', v' out. Every
 * operation is rounded to float32 as the SIMD function's and tfjs's kernels round it (float32 +,
 * *, / and sqrt computed in double and rounded once are exactly float32's), so both agree bit
 * for bit.
 */
export function adamPass(arrays: Float32Array[], a: AdamUpdateAttrs, from = 0): void {
  const [x, m, v, g, x2, m2, v2] = arrays as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  const [b1, c1, b2, c2, d1, d2, eps, step, divisor, decay] = constants(a) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  for (let i = from; i < x.length; i++) {
    const xi = x[i] as number;
    const gi = f(f((g[i] as number) / divisor) + f(xi * decay));
    const mi = f(f((m[i] as number) * b1) + f(gi * c1));
    const vi = f(f((v[i] as number) * b2) + f(f(gi * gi) * c2));
    m2[i] = mi;
    v2[i] = vi;
    x2[i] = f(f(f(f(mi / d1) / f(f(Math.sqrt(f(vi / d2))) + eps)) * step) + xi);
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
  const attrs = args.attrs as unknown as AdamUpdateAttrs;
  const memory = backendMemory(backend.wasm);
  const simd = memory ? adamSimd(memory) : null;
  const vectorised = simd ? size - (size % 4) : 0;
  if (simd && vectorised > 0) simd(...[...ins, ...outs].map((t) => backend.getMemoryOffset(t.dataId)), vectorised * 4, ...constants(attrs));
  if (vectorised < size) {
    // views after every allocation: a growing heap replaces the buffer earlier views were made on
    const views = [...ins, ...outs].map((t) => backend.typedArrayFromHeap({ ...t, shape: [size] }));
    adamPass(views, attrs, vectorised);
  }
  return outs;
}

export const adamUpdateConfig: tf.KernelConfig = {
  kernelName: ADAM_UPDATE,
  backendName: 'wasm',
  kernelFunc: adamUpdate as unknown as tf.KernelFunc,
};
