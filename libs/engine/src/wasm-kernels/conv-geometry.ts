/**
 * What the three wasm gradient kernels share: the geometry of the forward convolution they
 * differentiate, and a way to run tfjs ops inside a kernel.
 *
 * Geometry: tfjs's own computeConv2DInfo turns the attributes (strides, pad as 'same' | 'valid' |
 * a number | explicit [[0,0],[top,bottom],[left,right],[0,0]] pairs, dilations, dimRoundingMode)
 * into the output size and the top/left padding, so these kernels agree with the forward kernels
 * (and with the cpu backend's gradient kernels) on every padding and rounding rule. Only the
 * padding before the data matters to a gradient: output position y reads input row
 * y*stride + i*dilation - padTop, and the output size is taken from dy itself.
 *
 * Ops inside a kernel: a kernel function may return a Tensor instead of a bare TensorInfo (the
 * engine then uses it as the output as is; tfjs-node's kernels do the same). Running the ops in a
 * tidy disposes every intermediate, and the one tensor the tidy returns survives into the
 * caller's scope, so repeated gradient calls leave no tensors behind. The engine does not record
 * ops run inside a kernel on any gradient tape.
 */
import * as tf from '@tensorflow/tfjs-core';

export type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
export type RoundingMode = 'floor' | 'round' | 'ceil';
export type Shape4 = [number, number, number, number];

export interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  /** Conv2DBackpropFilter has no dilations attribute in tfjs; absent means 1 */
  dilations?: number | [number, number];
  dimRoundingMode?: RoundingMode;
  /** only Conv2DBackpropFilter carries it; the depthwise kernels are NHWC by definition */
  dataFormat?: 'NHWC' | 'NCHW';
}

export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padLeft: number;
}

/** The forward convolution's geometry; `dyShape` must be what that convolution outputs. */
export function convGeometry(
  kernel: string,
  xShape: readonly number[],
  filterShape: readonly number[],
  dyShape: readonly number[],
  attrs: ConvAttrs,
  depthwise: boolean,
): ConvGeometry {
  if (attrs.dataFormat === 'NCHW') {
    throw new Error(`${kernel} on the wasm backend supports only dataFormat 'NHWC' (channelsLast), got 'NCHW'`);
  }
  if (xShape.length !== 4 || filterShape.length !== 4 || dyShape.length !== 4) {
    throw new Error(`${kernel}: x, filter and dy must be rank 4, got [${xShape}], [${filterShape}], [${dyShape}]`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    'channelsLast',
  );
  const expected = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
  if (expected.some((v, i) => v !== dyShape[i])) {
    throw new Error(`${kernel}: dy has shape [${dyShape}] but the convolution of [${xShape}] by [${filterShape}] gives [${expected}]`);
  }
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** A kernel input as a Tensor (the engine passes Tensors; a backend-level caller may pass bare TensorInfos). */
export function asTensor(info: tf.TensorInfo | undefined, name: string, kernel: string): tf.Tensor {
  if (!info) throw new Error(`${kernel}: missing input '${name}'`);
  if (info instanceof tf.Tensor) return info;
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** Explicit NHWC padding for a forward conv kernel's `pad` attribute. */
export function explicitPad(top: number, bottom: number, left: number, right: number): Pad {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/**
 * Crops `x` (NHWC) along H and W so that `before`/`after` paddings that came out negative become
 * zero; returns the remaining non-negative paddings. Negative ones arise only from unusual
 * explicit paddings or from rows that no output position reads.
 */
export function cropNegativePadding(
  x: tf.Tensor4D,
  pads: { top: number; bottom: number; left: number; right: number },
): { x: tf.Tensor4D; top: number; bottom: number; left: number; right: number } {
  const cut = (p: number) => Math.max(0, -p);
  const [n, h, w, c] = x.shape;
  const [ct, cb, cl, cr] = [cut(pads.top), cut(pads.bottom), cut(pads.left), cut(pads.right)];
  const cropped = ct + cb + cl + cr === 0 ? x : tf.slice(x, [0, ct, cl, 0], [n, h - ct - cb, w - cl - cr, c]);
  const keep = (p: number) => Math.max(0, p);
  return { x: cropped, top: keep(pads.top), bottom: keep(pads.bottom), left: keep(pads.left), right: keep(pads.right) };
}
