/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend: the gradient of a depthwise conv2d
 * with respect to its input, computed as a forward depthwise convolution on the backend's own
 * XNNPACK kernel (plus Pad, Reverse and Sum), never by a per-element JavaScript loop.
 *
 * Shapes: dy [N,Ho,Wo,C*M], filter [kh,kw,C,M] (M: channel multiplier), input [N,H,W,C],
 * stride s, dilation d, p zero rows (columns) of padding before the data. Output pixel y read
 * input row h = y*s + i*d - p through tap i, so
 *
 *   dx[n,h,w,c] = sum over i,j,m and the y,x with y*s + i*d - p = h, x*s + j*d - p = w
 *                 of dy[n,y,x,c*M + m] * W[i,j,c,m]
 *
 * This is the transposed convolution, rewritten as an ordinary one in three steps:
 *  1. Spread dy out by the stride: D[q] = dy[y] where q = y*s, zero between (a Pad of dy seen as
 *     [N,Ho,1,Wo,1,C*M] inserts s-1 zeros after every row and column). Now
 *     dx[h] = sum over i of D[h + p - i*d] * W[i].
 *  2. Flip the filter, V[i'] = W[kh-1-i'], which turns that into a correlation:
 *     dx[h] = sum over i' of D[h + p - (kh-1)*d + i'*d] * V[i'],
 *     i.e. a stride-1 depthwise conv with dilation d of D padded with (kh-1)*d - p zeros before
 *     and enough after for exactly H output rows (negative amounts crop instead).
 *  3. Each of the C*M channels of D is convolved with its own V[.,.,c,m] (the filter seen as
 *     [kh,kw,C*M,1]); dx sums the M channels that came from input channel c (a reshape to
 *     [N,H,W,C,M] and a Sum over the innermost axis; nothing to sum when M = 1).
 * The zeros inserted in step 1 cost s*s times the multiply-adds of the useful ones; depthwise
 * convolutions are cheap enough that one native call still wins by far over anything gathered.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor, type ConvAttrs, convGeometry, cropNegativePadding, explicitPad, type Shape4 } from './conv-geometry';

const KERNEL = 'DepthwiseConv2dNativeBackpropInput';

export interface DepthwiseBackpropInputAttrs extends ConvAttrs {
  inputShape: Shape4;
}

/** dy with stride-1 zeros after every row and column: [N, Ho*sh, Wo*sw, K]. */
function spread(dy: tf.Tensor4D, strideHeight: number, strideWidth: number): tf.Tensor4D {
  if (strideHeight === 1 && strideWidth === 1) return dy;
  const [n, ho, wo, k] = dy.shape;
  const spaced = tf.pad(tf.reshape(dy, [n, ho, 1, wo, 1, k]), [
    [0, 0],
    [0, 0],
    [0, strideHeight - 1],
    [0, 0],
    [0, strideWidth - 1],
    [0, 0],
  ]);
  return tf.reshape(spaced, [n, ho * strideHeight, wo * strideWidth, k]);
}

export function depthwiseBackpropInput(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const attrs = args.attrs as unknown as DepthwiseBackpropInputAttrs;
  return tf.tidy(() => {
    const dy = asTensor(args.inputs.dy, 'dy', KERNEL) as tf.Tensor4D;
    const filter = asTensor(args.inputs.filter, 'filter', KERNEL) as tf.Tensor4D;
    const g = convGeometry(KERNEL, attrs.inputShape, filter.shape, dy.shape, attrs, true);
    const [kh, kw, channels, multiplier] = filter.shape;
    const spread_ = spread(dy, g.strideHeight, g.strideWidth);
    const reachH = (kh - 1) * g.dilationHeight;
    const reachW = (kw - 1) * g.dilationWidth;
    const top = reachH - g.padTop;
    const left = reachW - g.padLeft;
    const padded = cropNegativePadding(spread_, {
      top,
      bottom: g.inHeight + reachH - top - spread_.shape[1],
      left,
      right: g.inWidth + reachW - left - spread_.shape[2],
    });
    const flipped = tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, channels * multiplier, 1]);
    const perChannel = tf.engine().runKernel(tf.DepthwiseConv2dNative, { x: padded.x, filter: flipped }, {
      strides: [1, 1],
      dilations: [g.dilationHeight, g.dilationWidth],
      pad: explicitPad(padded.top, padded.bottom, padded.left, padded.right),
    } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    if (multiplier === 1) return perChannel;
    return tf.sum(tf.reshape(perChannel, [g.batch, g.inHeight, g.inWidth, channels, multiplier]), 4);
  });
}

export const depthwiseBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as unknown as tf.KernelFunc,
};
