/**
 * Conv2DBackpropFilter for the wasm backend: the gradient of a conv2d with respect to its filter,
 * computed by the backend's own XNNPACK kernels (Conv2D, MatMul, Transpose), never by a
 * per-element JavaScript loop.
 *
 * Shapes: x [N,H,W,Cin], dy [N,Ho,Wo,Cout], filter [kh,kw,Cin,Cout], stride s, dilation d, and
 * p zero rows (columns) of padding before the data. The gradient is
 *
 *   dW[i,j,ci,co] = sum over n,y,x of xpad[n, y*s + i*d, x*s + j*d, ci] * dy[n,y,x,co]
 *
 * Read as a convolution, that sum is itself a correlation of x with dy in which the roles swap:
 * the batch n is the channel being summed, ci is the batch, the filter offsets (i,j) are the
 * output positions and the output positions (y,x) are the filter taps. So with
 *
 *   X = x transposed to [Cin,H,W,N]      F = dy transposed to [Ho,Wo,N,Cout]
 *
 * conv2d(X, F, stride d, dilation s, the same padding before the data) at [ci,i,j,co] is exactly
 * dW[i,j,ci,co]: one Conv2D call (an XNNPACK GEMM with K = Ho*Wo*N, M = Cin*kh*kw, N = Cout)
 * computes every offset at once, and a transpose of its [Cin,kh,kw,Cout] output gives the filter
 * layout. The padding after the data is chosen so that the output has exactly kh x kw positions:
 * offset kh-1 reads rows up to (kh-1)*d + (Ho-1)*s; rows past that (a 'valid' conv that leaves
 * some rows unread) are cropped instead.
 *
 * A 1x1 convolution with stride 1 and no padding is a matrix product over the N*H*W pixels,
 * dW = x^T dy (or its transpose, dy^T x), and takes a single MatMul. The backend's fast MatMul
 * path takes no transposed operands, so the wider of x and dy is transposed into the left
 * operand; the narrower one is the right operand, which XNNPACK packs and caches under that
 * tensor's id until it is disposed. A fresh copy (copyOf, identity.ts) is passed there, so that
 * the cache entry dies with this kernel's intermediates instead of living as long as the caller's
 * x or dy, and can never be found again by a later MatMul that reads the same buffer in another
 * shape. Where the host's OpenBLAS runs the products (../native-gemm.ts) it reads x transposed in
 * place: dW = x^T dy is one call, with no transpose and no copy.
 *
 * tfjs passes no dilations to this kernel (its conv2d gradient refuses dilated convolutions); an
 * explicit `dilations` attribute is honoured all the same, as the depthwise kernels do.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeGemm } from '../native-gemm';
import { asTensor, type ConvAttrs, type ConvGeometry, convGeometry, cropNegativePadding, explicitPad, type Shape4 } from './conv-geometry';
import { copyOf } from './identity';

const KERNEL = 'Conv2DBackpropFilter';

export interface Conv2DBackpropFilterAttrs extends ConvAttrs {
  filterShape: Shape4;
}

/** dW = x^T dy, for a 1x1 filter whose output pixels are the input pixels. */
function pointwise(x: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor {
  const pixels = g.batch * g.inHeight * g.inWidth;
  const x2 = tf.reshape(x, [pixels, g.inChannels]);
  const dy2 = tf.reshape(dy, [pixels, g.outChannels]);
  if (nativeGemm()) return tf.reshape(tf.matMul(x2, dy2, true, false), [1, 1, g.inChannels, g.outChannels]);
  if (g.outChannels <= g.inChannels) {
    const dw = tf.matMul(tf.transpose(x2), copyOf(dy2));
    return tf.reshape(dw, [1, 1, g.inChannels, g.outChannels]);
  }
  const dwT = tf.matMul(tf.transpose(dy2), copyOf(x2));
  return tf.reshape(tf.transpose(dwT), [1, 1, g.inChannels, g.outChannels]);
}

/** The role-swapped convolution described above. */
function swappedConv(x: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor {
  const spanH = (g.filterHeight - 1) * g.dilationHeight + (g.outHeight - 1) * g.strideHeight + 1;
  const spanW = (g.filterWidth - 1) * g.dilationWidth + (g.outWidth - 1) * g.strideWidth + 1;
  const padded = cropNegativePadding(tf.transpose(x, [3, 1, 2, 0]), {
    top: g.padTop,
    bottom: spanH - g.inHeight - g.padTop,
    left: g.padLeft,
    right: spanW - g.inWidth - g.padLeft,
  });
  const taps = tf.transpose(dy, [1, 2, 0, 3]);
  const out = tf.engine().runKernel(tf.Conv2D, { x: padded.x, filter: taps }, {
    strides: [g.dilationHeight, g.dilationWidth],
    dilations: [g.strideHeight, g.strideWidth],
    pad: explicitPad(padded.top, padded.bottom, padded.left, padded.right),
    dataFormat: 'NHWC',
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  return tf.transpose(out, [1, 2, 0, 3]);
}

export function conv2dBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.Tensor {
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  return tf.tidy(() => {
    const x = asTensor(args.inputs.x, 'x', KERNEL) as tf.Tensor4D;
    const dy = asTensor(args.inputs.dy, 'dy', KERNEL) as tf.Tensor4D;
    const g = convGeometry(KERNEL, x.shape, attrs.filterShape, dy.shape, attrs, false);
    const isPointwise =
      g.filterHeight === 1 &&
      g.filterWidth === 1 &&
      g.padTop === 0 &&
      g.padLeft === 0 &&
      g.outHeight === g.inHeight &&
      g.outWidth === g.inWidth;
    return isPointwise ? pointwise(x, dy, g) : swappedConv(x, dy, g);
  });
}

export const conv2dBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter as unknown as tf.KernelFunc,
};
