/**
 * Conv2DBackpropInput for the wasm backend, replacing the backend's own kernel: that one is a
 * scalar loop (about 0.2 GFLOP/s; a 1x1 conv 960 -> 320 at 3x3 on a batch of 32 took half a
 * second), and it is on every trainable conv's backward path. This one runs on the backend's
 * XNNPACK kernels.
 *
 * Shapes: dy [N,Ho,Wo,Cout], filter [kh,kw,Cin,Cout], dx [N,H,W,Cin]; stride s, dilation d, p rows
 * (columns) of padding before the data. The gradient is
 *
 *   dx[n,h,w,ci] = sum over i,j,co with h = y*s + i*d - p of dy[n,y,x,co] * W[i,j,ci,co]
 *
 * which is a stride-1 correlation of dy, spread out by s (s-1 zeros between neighbours), padded
 * with (kh-1)*d - p zero rows before, with the filter flipped in space and its channel roles
 * swapped (W'[i,j,co,ci] = W[kh-1-i, kw-1-j, ci, co]) and dilated by d. The padding after the data
 * is what makes the output exactly H rows; rows of dy that reach past the input (a 'valid' conv
 * leaves its last input rows unread) come out of cropping instead.
 *
 * A 1x1 filter needs no correlation: dx at the strided positions is dy W^T, a single MatMul over
 * the N*Ho*Wo pixels, spread back to the input grid when s > 1 (on OpenBLAS, where it is loaded,
 * reading W transposed in place).
 *
 * With the same s > 1 on both axes (and no dilation) the spread grid is mostly zeros, and a
 * correlation over it does s*s times the useful multiply-adds. So dx is computed by phases instead
 * (stride-phase-input.ts): the rows h = q*s + r of one phase r read dy itself through the taps
 * with i = r + p (mod s) only, all s*s phases as the channels of one stride-1 convolution of dy,
 * which one transpose interleaves into dx.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeGemm } from '../native-gemm';
import { asTensor, type ConvAttrs, type ConvGeometry, convGeometry, cropNegativePadding, explicitPad, type Shape4 } from './conv-geometry';
import { byPhases } from './stride-phase-input';

const KERNEL = 'Conv2DBackpropInput';

export interface Conv2DBackpropInputAttrs extends ConvAttrs {
  inputShape: Shape4;
}

/**
 * Puts t [N,Ho,Wo,C] on a grid with s-1 zeros between neighbours: [N,(Ho-1)*sh+1,(Wo-1)*sw+1,C].
 * Interleaving is a reshape, a pad of the new unit axes and a reshape back, not a scatter.
 */
function spread(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t;
  const [n, h, w, c] = t.shape;
  const grid = tf.reshape(
    tf.pad(tf.reshape(t, [n, h, 1, w, 1, c]), [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]),
    [n, h * sh, w * sw, c],
  );
  return tf.slice(grid as tf.Tensor4D, [0, 0, 0, 0], [n, (h - 1) * sh + 1, (w - 1) * sw + 1, c]);
}

/** Pads or crops t [N,h,w,C] at the bottom/right to exactly [N,H,W,C]. */
function fit(t: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  const [n, h, w, c] = t.shape;
  const cropped = h > height || w > width ? tf.slice(t, [0, 0, 0, 0], [n, Math.min(h, height), Math.min(w, width), c]) : t;
  const [, h2, w2] = cropped.shape;
  if (h2 === height && w2 === width) return cropped;
  return tf.pad(cropped, [
    [0, 0],
    [0, height - h2],
    [0, width - w2],
    [0, 0],
  ]);
}

function pointwise(dy: tf.Tensor4D, filter: tf.Tensor4D, g: ConvGeometry): tf.Tensor {
  const pixels = g.batch * g.outHeight * g.outWidth;
  const w = tf.reshape(filter, [g.inChannels, g.outChannels]);
  // OpenBLAS reads W transposed in place; XNNPACK's fast path wants it transposed first
  const product = nativeGemm()
    ? tf.matMul(tf.reshape(dy, [pixels, g.outChannels]), w, false, true)
    : tf.matMul(tf.reshape(dy, [pixels, g.outChannels]), tf.transpose(w));
  const at = tf.reshape(product, [g.batch, g.outHeight, g.outWidth, g.inChannels]) as tf.Tensor4D;
  const spreadOut = spread(at, g.strideHeight, g.strideWidth);
  // output position y reads input row y*s - p: shift by the padding, then fit to H x W
  const shifted = cropNegativePadding(spreadOut, { top: -g.padTop, bottom: 0, left: -g.padLeft, right: 0 });
  const placed = tf.pad(shifted.x, [
    [0, 0],
    [shifted.top, 0],
    [shifted.left, 0],
    [0, 0],
  ]);
  return fit(placed, g.inHeight, g.inWidth);
}

function correlation(dy: tf.Tensor4D, filter: tf.Tensor4D, g: ConvGeometry): tf.Tensor {
  const spreadDy = spread(dy, g.strideHeight, g.strideWidth);
  const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
  const spanH = (g.filterHeight - 1) * g.dilationHeight;
  const spanW = (g.filterWidth - 1) * g.dilationWidth;
  const top = spanH - g.padTop;
  const left = spanW - g.padLeft;
  const [, hs, ws] = spreadDy.shape;
  // stride-1 correlation output rows = hs + top + bottom - spanH; choose bottom to give H
  const padded = cropNegativePadding(spreadDy, {
    top,
    bottom: g.inHeight - hs - top + spanH,
    left,
    right: g.inWidth - ws - left + spanW,
  });
  const out = tf.engine().runKernel(tf.Conv2D, { x: padded.x, filter: flipped }, {
    strides: [1, 1],
    dilations: [g.dilationHeight, g.dilationWidth],
    pad: explicitPad(padded.top, padded.bottom, padded.left, padded.right),
    dataFormat: 'NHWC',
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  return fit(out, g.inHeight, g.inWidth);
}

export function conv2dBackpropInput(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
  return tf.tidy(() => {
    const dy = asTensor(args.inputs.dy, 'dy', KERNEL) as tf.Tensor4D;
    const filter = asTensor(args.inputs.filter, 'filter', KERNEL) as tf.Tensor4D;
    const g = convGeometry(KERNEL, attrs.inputShape, filter.shape, dy.shape, attrs, false);
    if (g.filterHeight === 1 && g.filterWidth === 1) return pointwise(dy, filter, g);
    const phased = g.strideHeight > 1 && g.strideWidth === g.strideHeight && g.dilationHeight === 1 && g.dilationWidth === 1;
    return phased ? byPhases(dy, filter, g) : correlation(dy, filter, g);
  });
}

export const conv2dBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropInput as unknown as tf.KernelFunc,
};
