/**
 * The gradients of clipByValue and relu6 on wasm, each one kernel of a few full-speed passes.
 * tfjs's clipByValue gradient is where(x >= min && x <= max, dy, 0): GreaterEqual, LessEqual,
 * LogicalAnd, ZerosLike and Select, whose comparisons and select are scalar loops with
 * broadcasting in the wasm backend (about 1 ms each on a [32,3,3,960] activation); a Keras
 * ReLU(max_value=6), as MobileNetV2's blocks use it, runs Relu then ClipByValue and paid that
 * chain in every block. tfjs's relu6 gradient is the same kind of chain (LessEqual, Step, Cast,
 * Multiply).
 *
 * Here the mask is built from Step, whose wasm kernel is a plain loop, and XNNPACK's
 * subtraction, addition and multiplication:
 *   clipByValue: dx = dy * (1 - step(x - max) - step(min - x))
 *   relu6:       dx = dy * (step(x) - step(x - 6))
 * step(v) is 1 for v > 0 and 0 otherwise, and x - max > 0 exactly when x > max (float32
 * subtraction of distinct values never rounds to zero), so the mask is 1 on [min, max] and 0
 * outside, ends included, as in tfjs. Two differences in edge values: where dy is masked out the
 * result is dy * 0 (-0 for a negative dy, NaN for an infinite one) rather than 0, and a NaN input
 * gives NaN rather than 0. Relu's own gradient, dy * step(x), is already two fast passes and
 * stays tfjs's.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './conv-geometry';
import { overrideGradient } from './gradient-override';

export const CLIP_BY_VALUE_GRAD = 'ClipByValueGrad';
export const RELU6_GRAD = 'Relu6Grad';

type Args = { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap };

function inputs(args: Args, kernel: string): [tf.Tensor, tf.Tensor] {
  return [asTensor(args.inputs.dy, 'dy', kernel), asTensor(args.inputs.x, 'x', kernel)];
}

function clipByValueGrad(args: Args): tf.Tensor {
  const [dy, x] = inputs(args, CLIP_BY_VALUE_GRAD);
  const { clipValueMin: lo, clipValueMax: hi } = args.attrs as unknown as { clipValueMin: number; clipValueMax: number };
  return tf.tidy(() => tf.mul(dy, tf.sub(1, tf.add(tf.step(tf.sub(x, hi)), tf.step(tf.sub(lo, x))))));
}

function relu6Grad(args: Args): tf.Tensor {
  const [dy, x] = inputs(args, RELU6_GRAD);
  return tf.tidy(() => tf.mul(dy, tf.sub(tf.step(x), tf.step(tf.sub(x, 6)))));
}

export const clipByValueGradConfig: tf.KernelConfig = {
  kernelName: CLIP_BY_VALUE_GRAD,
  backendName: 'wasm',
  kernelFunc: clipByValueGrad as unknown as tf.KernelFunc,
};

export const relu6GradConfig: tf.KernelConfig = {
  kernelName: RELU6_GRAD,
  backendName: 'wasm',
  kernelFunc: relu6Grad as unknown as tf.KernelFunc,
};

function fused(kernel: string, attrsOf: (attrs: tf.NamedAttrMap) => tf.NamedAttrMap = () => ({})) {
  return (dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [x] = saved;
    if (x?.dtype !== 'float32' || dy.dtype !== 'float32') return undefined;
    return { x: () => tf.engine().runKernel(kernel, { dy, x }, attrsOf(attrs)) as tf.Tensor };
  };
}

/** Registers the two gradients (wasm only; other backends keep tfjs's). */
export function overrideActivationGradients(): void {
  overrideGradient(tf.Relu6, fused(RELU6_GRAD));
  overrideGradient(
    tf.ClipByValue,
    fused(CLIP_BY_VALUE_GRAD, (a) => ({ clipValueMin: a.clipValueMin, clipValueMax: a.clipValueMax }) as tf.NamedAttrMap),
  );
}
