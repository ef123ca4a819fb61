/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend: the gradient of a depthwise conv2d
 * with respect to its filter, computed by the backend's own XNNPACK depthwise convolution and
 * Transpose/Sum kernels, never by a per-element JavaScript loop.
 *
 * Shapes: x [N,H,W,C], dy [N,Ho,Wo,C*M], filter [kh,kw,C,M] (M: channel multiplier; output
 * channel c*M + m comes from input channel c), stride s, dilation d, p zero rows (columns) of
 * padding before the data. The gradient is
 *
 *   dW[i,j,c,m] = sum over n,y,x of xpad[n, y*s + i*d, x*s + j*d, c] * dy[n,y,x,c*M + m]
 *
 * Each channel pairs only with itself, and the sum runs over the batch and the output pixels.
 * Folding the batch into the channels makes this a depthwise correlation with the roles of
 * offsets and pixels swapped: with
 *
 *   X = x transposed to [H,W,N,C], seen as one image [1,H,W,N*C]
 *   F = dy transposed to [Ho,Wo,N,C*M], seen as a depthwise filter [Ho,Wo,N*C,M]
 *
 * depthwiseConv2d(X, F, stride d, dilation s, the same padding before the data) at
 * [0,i,j,(n*C + c)*M + m] is the (n)th term of the sum above for offset (i,j): its taps are the
 * output pixels (y,x), its output positions the filter offsets. Summing over n (a reshape to
 * [kh*kw, N, C*M] and a Sum) gives dW. The padding after the data is chosen so the output has
 * exactly kh x kw positions (rows no offset reads are cropped instead). One native call covers
 * every offset, batch element and channel; the transposes are plain rank-4 copies.
 *
 * The big "filter" (Ho x Wo taps) is a shape XNNPACK's depthwise kernels are not tuned for: on a
 * 48x48 input this one call is nearly all of the time. Gathering the kh*kw shifted windows
 * instead (strided slices, or one-hot depthwise filters, then Mul and a reduction) measured
 * slower still: the wasm backend's Slice copies row by row in JavaScript and its StridedSlice
 * index by index. This formulation stays 30x or more faster than the cpu backend on the shapes
 * of test/bench/kernels.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor, type ConvAttrs, convGeometry, cropNegativePadding, explicitPad, type Shape4 } from './conv-geometry';

const KERNEL = 'DepthwiseConv2dNativeBackpropFilter';

export interface DepthwiseBackpropFilterAttrs extends ConvAttrs {
  filterShape: Shape4;
}

export function depthwiseBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const attrs = args.attrs as unknown as DepthwiseBackpropFilterAttrs;
  return tf.tidy(() => {
    const x = asTensor(args.inputs.x, 'x', KERNEL) as tf.Tensor4D;
    const dy = asTensor(args.inputs.dy, 'dy', KERNEL) as tf.Tensor4D;
    const g = convGeometry(KERNEL, x.shape, attrs.filterShape, dy.shape, attrs, true);
    const [kh, kw, channels, multiplier] = attrs.filterShape;
    const spanH = (kh - 1) * g.dilationHeight + (g.outHeight - 1) * g.strideHeight + 1;
    const spanW = (kw - 1) * g.dilationWidth + (g.outWidth - 1) * g.strideWidth + 1;
    const image = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, g.inHeight, g.inWidth, g.batch * channels]) as tf.Tensor4D;
    const padded = cropNegativePadding(image, {
      top: g.padTop,
      bottom: spanH - g.inHeight - g.padTop,
      left: g.padLeft,
      right: spanW - g.inWidth - g.padLeft,
    });
    const taps = tf.reshape(tf.transpose(dy, [1, 2, 0, 3]), [g.outHeight, g.outWidth, g.batch * channels, multiplier]);
    const perSample = tf.engine().runKernel(tf.DepthwiseConv2dNative, { x: padded.x, filter: taps }, {
      strides: [g.dilationHeight, g.dilationWidth],
      dilations: [g.strideHeight, g.strideWidth],
      pad: explicitPad(padded.top, padded.bottom, padded.left, padded.right),
    } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    const summed = tf.sum(tf.reshape(perSample, [kh * kw, g.batch, channels * multiplier]), 1);
    return tf.reshape(summed, [kh, kw, channels, multiplier]);
  });
}

export const depthwiseBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter as unknown as tf.KernelFunc,
};
