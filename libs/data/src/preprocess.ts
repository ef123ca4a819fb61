/**
 * Turns a RawBatch into the tensor a model expects: resize, channel conversion, value range. This
 * is the one place the input pipeline's numerics are defined, and preprocessId() names them, so
 * a feature cache built with one preprocessing is never reused under another.
 *
 * Bilinear resizing uses alignCorners=false, halfPixelCenters=false (tfjs's defaults, what Keras
 * image models were trained with). Greyscale becomes RGB by repeating the channel; RGB becomes
 * greyscale by the plain channel mean, not luma weights, so a tiled grey image round-trips exactly.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RawBatch } from './dataset';

export interface PreprocessSpec {
  sizePx: number;
  channels: 1 | 3;
  /** output value range, e.g. [0,1] or [-1,1] */
  range: [number, number];
}

function checkSpec(spec: PreprocessSpec): void {
  if (!Number.isInteger(spec.sizePx) || spec.sizePx < 1) {
    throw new RangeError(`sizePx must be a positive integer, got ${spec.sizePx}`);
  }
  if (spec.channels !== 1 && spec.channels !== 3) throw new RangeError(`channels must be 1 or 3, got ${spec.channels}`);
  const [lo, hi] = spec.range;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo === hi) {
    throw new RangeError(`range must be two different finite numbers, got [${spec.range.join(', ')}]`);
  }
}

export function preprocess(batch: RawBatch, spec: PreprocessSpec): tf.Tensor4D {
  checkSpec(spec);
  const [n, h, w, c] = batch.shape;
  if (batch.pixels.length !== n * h * w * c) {
    throw new RangeError(`batch has ${batch.pixels.length} values but shape ${batch.shape.join('x')}`);
  }
  if (c !== 1 && c !== 3) throw new RangeError(`batch has ${c} channels; only 1 or 3 are supported`);
  const { sizePx, channels } = spec;
  const [lo, hi] = spec.range;
  return tf.tidy(() => {
    let x: tf.Tensor4D = tf.tensor4d(batch.pixels, batch.shape, 'float32');
    // Reduce to grey before resizing and tile after it: both are linear, and this order resizes fewer channels.
    if (channels === 1 && c === 3) x = tf.mean(x, 3, true);
    if (h !== sizePx || w !== sizePx) x = tf.image.resizeBilinear(x, [sizePx, sizePx], false, false);
    if (channels === 3 && c === 1) x = tf.tile(x, [1, 1, 1, 3]);
    if (lo !== 0 || hi !== 1) x = tf.add(tf.mul(x, hi - lo), lo);
    return x;
  });
}

/** Stable description of the preprocessing; bump the leading version when the numerics change. */
export function preprocessId(spec: PreprocessSpec): string {
  checkSpec(spec);
  return `pp1:bilinear${spec.sizePx}x${spec.sizePx}:c${spec.channels}:range${spec.range[0]},${spec.range[1]}`;
}
