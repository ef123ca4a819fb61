/**
 * BatchNormalization in training mode on wasm as one kernel, BatchNormTraining, with one
 * gradient. tfjs-layers normalises a training batch with tf.moments and tf.batchNorm: Mean,
 * Reshape, Cast, Sub, Square, Mean and FusedBatchNorm, each recorded on the tape with the
 * tensors it saves; their gradients are some twenty more kernels, most of them full passes over
 * the activation (a tensor of ones and a division for each Mean, the Square's and Sub's products,
 * the sums that join the three paths to x). Here, for x [..., C] with per-channel scale and offset:
 *
 *   forward:  mean = mean(x), xc = x - mean, variance = mean(xc^2),
 *             y = xc * scale * k + offset with k = 1 / sqrt(variance + epsilon)
 *   backward: s = mean(dy), t = mean(dy * xc), with A = scale * k,
 *             dx = A * dy - A * s - A * k^2 * t * xc (+ dmean / N + 2 dvariance xc / N),
 *             dscale = N * t * k, doffset = N * s
 *
 * (N the rows of x per channel; dmean and dvariance are zero unless something differentiates the
 * statistics). The per-channel means are XNNPACK average pools (channel-reduce.ts) and
 * xc * b + c is one depthwise 1x1 convolution with a bias, as in batch-norm.ts, so the backward is
 * six full passes and the forward four; everything else is on [C] vectors.
 *
 * `useTrainingBatchNorm` routes tfjs-layers' BatchNormalization through it: in training mode, on
 * wasm with the fused kernels on, for a float32 input normalised over its last axis with both a
 * scale and an offset; the layer updates its moving statistics exactly as its own call does.
 * Every other case (other backends, inference, other axes) is the layer's own call.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { channelMeans } from './channel-reduce';
import { asTensor } from './conv-geometry';
import { fusedWasmKernels } from './fused-switch';

export const BATCH_NORM_TRAINING = 'BatchNormTraining';

interface Attrs {
  varianceEpsilon: number;
}

/** x as [1, rows, 1, C] and the depthwise 1x1 xc * b + c over it, back in x's shape. */
function affine(x: tf.Tensor, b: tf.Tensor1D, c: tf.Tensor1D): tf.Tensor {
  const channels = x.shape.at(-1) as number;
  const image = tf.reshape(x, [1, x.size / channels, 1, channels]) as tf.Tensor4D;
  const out = tf.fused.depthwiseConv2d({
    x: image,
    filter: tf.reshape(b, [1, 1, channels, 1]) as tf.Tensor4D,
    strides: 1,
    pad: 'valid',
    bias: c,
  });
  return tf.reshape(out, x.shape);
}

function batchNormTraining(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor[] {
  const { varianceEpsilon } = args.attrs as unknown as Attrs;
  const [x, scale, offset] = ['x', 'scale', 'offset'].map((k) => asTensor(args.inputs[k], k, BATCH_NORM_TRAINING)) as [
    tf.Tensor,
    tf.Tensor1D,
    tf.Tensor1D,
  ];
  return tf.tidy(() => {
    const mean = channelMeans(x);
    const xc = tf.sub(x, mean);
    const variance = channelMeans(tf.square(xc));
    const a = tf.mul(scale, tf.rsqrt(tf.add(variance, varianceEpsilon))) as tf.Tensor1D;
    return [affine(xc, a, offset), mean, variance];
  });
}

export const batchNormTrainingConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAINING,
  backendName: 'wasm',
  kernelFunc: batchNormTraining as unknown as tf.KernelFunc,
};

function gradients(dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap): Record<string, () => tf.Tensor> {
  const [dy, dMean, dVariance] = (Array.isArray(dys) ? dys : [dys]) as [tf.Tensor, tf.Tensor1D?, tf.Tensor1D?];
  const [x, scale, mean, variance] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
  const { varianceEpsilon } = attrs as unknown as Attrs;
  const [dx, dScale, dOffset] = tf.tidy(() => {
    const rows = x.size / (mean.shape[0] as number);
    const k = tf.rsqrt(tf.add(variance, varianceEpsilon));
    const a = tf.mul(scale, k);
    const xc = tf.sub(x, mean);
    const s = channelMeans(dy);
    const t = channelMeans(tf.mul(dy, xc));
    let b = tf.neg(tf.mul(tf.mul(a, tf.square(k)), t));
    let c = tf.neg(tf.mul(a, s));
    if (dVariance) b = tf.add(b, tf.mul(dVariance, 2 / rows));
    if (dMean) c = tf.add(c, tf.div(dMean, rows));
    const dxOut = tf.add(tf.mul(dy, a), affine(xc, b as tf.Tensor1D, c as tf.Tensor1D));
    return [dxOut, tf.mul(tf.mul(t, k), rows), tf.mul(s, rows)];
  });
  return { x: () => dx as tf.Tensor, scale: () => dScale as tf.Tensor, offset: () => dOffset as tf.Tensor };
}

export const batchNormTrainingGradConfig: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAINING,
  inputsToSave: ['x', 'scale'],
  outputsToSave: [false, true, true],
  gradFunc: gradients as unknown as tf.GradConfig['gradFunc'],
};

/** The parts of tfjs-layers' BatchNormalization this reads (its fields are not in its typings). */
interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma?: tfl.LayerVariable;
  beta?: tfl.LayerVariable;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

type Call = (this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

/** The layer's moving statistics, updated as its own call updates them. */
function moveAverage(variable: tfl.LayerVariable, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const old = variable.read();
    variable.write(tf.sub(old, tf.mul(tf.sub(old, value), 1 - momentum)));
  });
}

/** The fused training-mode call, or undefined where it does not apply. */
function trainingCall(layer: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | undefined {
  const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
  if (kwargs.training !== true || !x || tf.getBackend() !== 'wasm' || !fusedWasmKernels()) return undefined;
  const axis = layer.axis >= 0 ? layer.axis : layer.axis + x.rank;
  if (x.dtype !== 'float32' || x.rank < 2 || axis !== x.rank - 1 || !layer.gamma || !layer.beta) return undefined;
  const { gamma, beta } = layer;
  return tf.tidy(() => {
    const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAINING, { x, scale: gamma.read(), offset: beta.read() }, {
      varianceEpsilon: layer.epsilon,
    } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    moveAverage(layer.movingMean, mean as tf.Tensor, layer.momentum);
    moveAverage(layer.movingVariance, variance as tf.Tensor, layer.momentum);
    return y as tf.Tensor;
  });
}

let patched = false;

/** Routes BatchNormalization's training-mode call through BatchNormTraining on wasm (idempotent). */
export function useTrainingBatchNorm(): void {
  if (patched) return;
  patched = true;
  tf.registerGradient(batchNormTrainingGradConfig);
  const proto = Object.getPrototypeOf(tfl.layers.batchNormalization({})) as { call: Call };
  const own = proto.call;
  proto.call = function (this: BatchNormLayer, inputs, kwargs) {
    return trainingCall(this, inputs, kwargs) ?? own.call(this, inputs, kwargs);
  };
}
