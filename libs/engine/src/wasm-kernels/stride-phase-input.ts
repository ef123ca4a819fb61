/**
 * The input gradient of a strided, undilated conv2d as one stride-1 convolution of dy followed by
 * an interleave (conv2d-backprop-input.ts), for equal strides s along both axes.
 *
 * Along one axis, forward output row o reads input row o*s + i - p through tap i, so
 *
 *   dx[h] = sum over taps i with (h + p - i) divisible by s of dy[(h + p - i) / s] * W[i].
 *
 * Split the rows by phase: h = q*s + r, 0 <= r < s. Which taps reach row h depends on r only
 * (i = r + p mod s), and tap i reads dy at row q + c with c = (r + p - i) / s. So every phase is a
 * stride-1 correlation of dy over the rows q + c, c from cLo to cHi (the extremes over all phases
 * and taps), with a filter that holds tap i at offset c - cLo and zeros elsewhere. In two
 * dimensions the s*s phases (rh, rw) become the output channels of one convolution, phase
 * (rh, rw) at channels (rh*s + rw)*Cin + ci, and interleaving them is DepthToSpace's layout:
 * dx[q*s + rh, u*s + rw, ci] = out[q, u, (rh*s + rw)*Cin + ci]. The grid has ceil(H/s)*s rows;
 * those past H are cropped.
 *
 * A correlation over dy spread out by s (zeros between its rows) does s*s times the forward
 * convolution's multiply-adds; this one does (window/k)^2 times as many, window = cHi - cLo + 1
 * (2 for k = 3, s = 2: 16/9).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type ConvGeometry, cropNegativePadding, explicitPad } from './conv-geometry';

/** The taps of one axis: which phase each tap serves and the dy offset it reads. */
interface AxisTaps {
  /** per tap i: [phase r, window offset c - cLo] */
  at: [number, number][];
  /** window rows: cHi - cLo + 1 */
  window: number;
  /** dy rows padded before (negative: cropped) and after */
  before: number;
  after: number;
  /** rows per phase in the grid: ceil(H / s) */
  rows: number;
}

function axisTaps(s: number, k: number, p: number, inSize: number, outSize: number): AxisTaps {
  // tap i serves phase r = (i - p) mod s, at c = (r + p - i) / s
  const served = Array.from({ length: k }, (_, i) => {
    const r = (((i - p) % s) + s) % s;
    return [r, (r + p - i) / s] as [number, number];
  });
  const cs = served.map(([, c]) => c);
  const [cLo, cHi] = [Math.min(...cs), Math.max(...cs)];
  const rows = Math.ceil(inSize / s);
  return {
    at: served.map(([r, c]) => [r, c - cLo]),
    window: cHi - cLo + 1,
    before: -cLo,
    after: rows - 1 + cHi - (outSize - 1),
    rows,
  };
}

/** The filter [wh, ww, Cout, s*s*Cin] of the phase convolution, from W [kh, kw, Cin, Cout]. */
function phaseFilter(filter: tf.Tensor4D, g: ConvGeometry, h: AxisTaps, w: AxisTaps): tf.Tensor4D {
  const s = g.strideHeight;
  const [cin, cout] = [g.inChannels, g.outChannels];
  const src = filter.dataSync() as Float32Array;
  const width = s * s * cin;
  const out = new Float32Array(h.window * w.window * cout * width);
  for (let i = 0; i < g.filterHeight; i++) {
    const [rh, th] = h.at[i] as [number, number];
    for (let j = 0; j < g.filterWidth; j++) {
      const [rw, tw] = w.at[j] as [number, number];
      const channel0 = (rh * s + rw) * cin;
      for (let ci = 0; ci < cin; ci++) {
        const from = ((i * g.filterWidth + j) * cin + ci) * cout;
        for (let co = 0; co < cout; co++) {
          out[((th * w.window + tw) * cout + co) * width + channel0 + ci] = src[from + co] as number;
        }
      }
    }
  }
  return tf.tensor4d(out, [h.window, w.window, cout, width]);
}

export function byPhases(dy: tf.Tensor4D, filter: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const s = g.strideHeight;
  const h = axisTaps(s, g.filterHeight, g.padTop, g.inHeight, g.outHeight);
  const w = axisTaps(s, g.filterWidth, g.padLeft, g.inWidth, g.outWidth);
  const [, ho, wo] = dy.shape;
  const cropped = (size: number, a: AxisTaps) => Math.max(0, -a.before) + Math.max(0, -a.after) >= size;
  // no dy row reaches the input: the gradient is zero
  if (cropped(ho, h) || cropped(wo, w)) return tf.zeros([g.batch, g.inHeight, g.inWidth, g.inChannels]);
  const padded = cropNegativePadding(dy, { top: h.before, bottom: h.after, left: w.before, right: w.after });
  const phases = tf.engine().runKernel(tf.Conv2D, { x: padded.x, filter: phaseFilter(filter, g, h, w) }, {
    strides: [1, 1],
    dilations: [1, 1],
    pad: explicitPad(padded.top, padded.bottom, padded.left, padded.right),
    dataFormat: 'NHWC',
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  // the interleave as a transpose: [N*qh, qw, rh, rw*Cin] -> [N*qh, rh, qw, rw*Cin] (the backend's
  // DepthToSpace, which computes the same, is a scalar loop: 30 ms on [64,14,14,64])
  const grid = tf.reshape(tf.transpose(tf.reshape(phases, [g.batch * h.rows, w.rows, s, s * g.inChannels]), [0, 2, 1, 3]), [
    g.batch,
    h.rows * s,
    w.rows * s,
    g.inChannels,
  ]) as tf.Tensor4D;
  if (h.rows * s === g.inHeight && w.rows * s === g.inWidth) return grid;
  return tf.slice(grid, [0, 0, 0, 0], [g.batch, g.inHeight, g.inWidth, g.inChannels]);
}
