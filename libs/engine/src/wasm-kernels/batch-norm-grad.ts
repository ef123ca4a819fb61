/**
 * FusedBatchNorm's gradient on wasm as one kernel, FusedBatchNormGrad: for x [..., C] normalised
 * per channel (mean, variance, scale of shape [C]) it returns the gradients of x, mean,
 * variance, scale and offset. tfjs's own gradient builds them from about twenty tensor ops (four
 * sums over the batch and spatial axes, each a transpose and a scalar loop in the wasm backend,
 * a tile, and products), which made BatchNormalization the largest part of a training step over
 * MobileNetV2's last blocks after the convolutions. Here the full-size work is four XNNPACK
 * passes: x - mean, dy * (x - mean), dy * scale * k, and two per-channel means as average pools
 * (channel-reduce.ts); everything else is on [C] vectors.
 *
 * With k = 1 / sqrt(variance + epsilon), s = sum(dy), t = sum(dy * (x - mean)):
 *   dx = dy * scale * k, dmean = -s * scale * k, dvariance = -t * scale * k^3 / 2,
 *   dscale = t * k, doffset = s,
 * tfjs's own formulas. Layers in training mode take mean and variance from the batch
 * (tf.moments), and their gradients flow on through those ops as before.
 */
import * as tf from '@tensorflow/tfjs-core';
import { channelMeans } from './channel-reduce';
import { asTensor } from './conv-geometry';
import { overrideGradient } from './gradient-override';

export const FUSED_BATCH_NORM_GRAD = 'FusedBatchNormGrad';

function batchNormGrad(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor[] {
  const { varianceEpsilon } = args.attrs as unknown as { varianceEpsilon: number };
  const [dy, x, mean, variance, scale] = ['dy', 'x', 'mean', 'variance', 'scale'].map((k) =>
    asTensor(args.inputs[k], k, FUSED_BATCH_NORM_GRAD),
  ) as tf.Tensor[] as [tf.Tensor, tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
  return tf.tidy(() => {
    const rows = x.size / (mean.shape[0] as number);
    const k = tf.rsqrt(tf.add(variance, varianceEpsilon));
    const factor = tf.mul(scale, k);
    const s = tf.mul(channelMeans(dy), rows);
    const t = tf.mul(channelMeans(tf.mul(dy, tf.sub(x, mean))), rows);
    const dx = tf.mul(dy, factor);
    const dMean = tf.neg(tf.mul(s, factor));
    const dVar = tf.mul(tf.mul(t, tf.mul(factor, tf.square(k))), -0.5);
    const dScale = tf.mul(t, k);
    return [dx, dMean, dVar, dScale, s];
  });
}

export const batchNormGradConfig: tf.KernelConfig = {
  kernelName: FUSED_BATCH_NORM_GRAD,
  backendName: 'wasm',
  kernelFunc: batchNormGrad as unknown as tf.KernelFunc,
};

/** The fused gradient where it applies: float32, per-channel statistics over the last axis. */
function fused(dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap): Record<string, () => tf.Tensor> | undefined {
  const [x, mean, variance, scale] = saved;
  if (!x || !mean || !variance || !scale) return undefined;
  const c = x.shape.at(-1);
  const perChannel = [mean, variance, scale].every((t) => t.rank === 1 && t.shape[0] === c && t.dtype === 'float32');
  if (!perChannel || x.dtype !== 'float32' || dy.dtype !== 'float32' || x.rank < 2) return undefined;
  const [dx, dMean, dVar, dScale, dOffset] = tf.engine().runKernel(FUSED_BATCH_NORM_GRAD, { dy, x, mean, variance, scale }, {
    varianceEpsilon: attrs.varianceEpsilon,
  } as tf.NamedAttrMap) as unknown as tf.Tensor[];
  return {
    x: () => dx as tf.Tensor,
    mean: () => dMean as tf.Tensor,
    variance: () => dVar as tf.Tensor,
    scale: () => dScale as tf.Tensor,
    offset: () => dOffset as tf.Tensor,
  };
}

export function overrideBatchNormGradient(): void {
  overrideGradient(tf.FusedBatchNorm, fused);
}
