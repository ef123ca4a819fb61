/**
 * Conv2D and FusedConv2D for the wasm backend, wrapping the backend's own kernels: a 1x1
 * convolution with stride 1 and no padding (MobileNetV2's expansions and projections, a ResNet's
 * bottlenecks) is one matrix product over the N*H*W pixels,
 *
 *   out[N*H*W, Cout] = x[N*H*W, Cin] * filter[Cin, Cout]   (+ bias, then the activation)
 *
 * which runs on the host's OpenBLAS (native-matmul.ts) in a training step, reading x and the
 * filter in place. Every other convolution, a forward pass outside a gradient tape (which must
 * stay batch-invariant, see native-matmul.ts), and every call when OpenBLAS is unavailable or
 * switched off go to the backend's kernel (XNNPACK).
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeGemm } from '../native-gemm';
import { type KernelArgs, nativeFirst, nativeProduct } from './native-matmul';

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dilations: number | [number, number];
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation?: string;
  leakyreluAlpha?: number;
}

/** The product for a 1x1, stride-1, unpadded NHWC convolution on OpenBLAS; undefined for any other. */
export function pointwiseProduct(args: KernelArgs): tf.TensorInfo | undefined {
  const { x, filter, bias, preluActivationWeights } = args.inputs;
  const attrs = args.attrs as unknown as ConvAttrs;
  if (!nativeGemm() || !x || !filter || preluActivationWeights || x.shape.length !== 4 || filter.shape.length !== 4) {
    return undefined;
  }
  if ((attrs.dataFormat ?? 'NHWC') !== 'NHWC' || filter.shape[0] !== 1 || filter.shape[1] !== 1) return undefined;
  if (bias && bias.shape.length !== 1) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const p = info.padInfo;
  if (info.strideHeight !== 1 || info.strideWidth !== 1 || p.top || p.bottom || p.left || p.right) return undefined;
  if (info.inChannels !== filter.shape[2]) return undefined;
  return nativeProduct(args.backend, {
    a: x,
    b: filter,
    transA: false,
    transB: false,
    m: info.batchSize * info.inHeight * info.inWidth,
    n: info.outChannels,
    k: info.inChannels,
    batch: 1,
    strideA: 0,
    strideB: 0,
    outShape: info.outShape,
    bias,
    activation: attrs.activation,
    alpha: attrs.leakyreluAlpha,
  });
}

const conv2d = nativeFirst(tf.Conv2D, pointwiseProduct);
const fusedConv2d = nativeFirst(tf.FusedConv2D, pointwiseProduct);

export const conv2dConfig = conv2d.config;
export const wrapBackendConv2D = conv2d.wrap;
export const fusedConv2dConfig = fusedConv2d.config;
export const wrapBackendFusedConv2D = fusedConv2d.wrap;
