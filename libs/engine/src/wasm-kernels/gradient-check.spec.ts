/**
 * Numerical gradient check: central finite differences of small nonlinear losses, evaluated with
 * forward ops only, against tf.grads on the wasm backend (whose conv gradients are this
 * directory's kernels). Float32 losses of magnitude ~10 lose ~1e-6 relative to rounding, so with
 * eps = 1e-2 the differences carry ~1e-3 absolute error; gradients are O(1), hence a 1e-2
 * tolerance relative to the largest gradient.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle registers no gradients; tfjs-layers's does, on import (as in the trainer).
import '@tensorflow/tfjs-layers';
import { initEngine } from '../backend';
import { randomValues, relativeError, type Shape4, seeded } from './kernel-testing';

const EPS = 1e-2;
const TOLERANCE = 1e-2;

type Loss = (...args: tf.Tensor4D[]) => tf.Scalar;

function numericGradients(loss: Loss, inputs: { values: Float32Array; shape: number[] }[]): Float32Array[] {
  const evaluate = () => {
    const value = tf.tidy(() => loss(...inputs.map((v) => tf.tensor4d(v.values, v.shape as Shape4))));
    const result = value.dataSync()[0] as number;
    value.dispose();
    return result;
  };
  return inputs.map(({ values }) => {
    const g = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      values[i] = v + EPS;
      const up = evaluate();
      values[i] = v - EPS;
      const down = evaluate();
      values[i] = v;
      g[i] = (up - down) / (2 * EPS);
    }
    return g;
  });
}

function check(loss: Loss, shapes: number[][], seed: number, names: string[]): void {
  const rand = seeded(seed);
  const inputs = shapes.map((shape) => ({ values: randomValues(rand, shape), shape }));
  const tensors = inputs.map((v) => tf.tensor(v.values, v.shape, 'float32'));
  const analytic = tf.grads((...args: tf.Tensor[]) => loss(...(args as tf.Tensor4D[])))(tensors);
  const numeric = numericGradients(loss, inputs);
  analytic.forEach((g, i) => {
    const err = relativeError(g.dataSync() as Float32Array, numeric[i] as Float32Array);
    assert.ok(err < TOLERANCE, `${names[i]}: relative error ${err.toExponential(2)}`);
  });
  tf.dispose([...analytic, ...tensors]);
}

describe('finite differences agree with the wasm conv gradients', () => {
  const weights = (shape: number[]) => tf.tensor(randomValues(seeded(99), shape), shape, 'float32');
  before(async () => {
    await initEngine('wasm');
  });

  it('conv2d, stride 2, same padding: input and filter', () => {
    const r = weights([1, 3, 3, 3]);
    check(
      (x, f) => tf.sum(tf.mul(tf.tanh(tf.conv2d(x, f, 2, 'same')), r)),
      [
        [1, 6, 5, 2],
        [3, 3, 2, 3],
      ],
      1,
      ['x', 'filter'],
    );
    r.dispose();
  });

  it('depthwise conv2d, multiplier 2, stride 2, same padding: input and filter', () => {
    const r = weights([1, 3, 3, 4]);
    check(
      (x, f) => tf.sum(tf.mul(tf.tanh(tf.depthwiseConv2d(x, f, 2, 'same')), r)),
      [
        [1, 6, 5, 2],
        [3, 3, 2, 2],
      ],
      2,
      ['x', 'filter'],
    );
    r.dispose();
  });

  it('depthwise conv2d, stride 1, valid padding: input and filter', () => {
    const r = weights([2, 3, 4, 3]);
    check(
      (x, f) => tf.sum(tf.mul(tf.tanh(tf.depthwiseConv2d(x, f, 1, 'valid')), r)),
      [
        [2, 5, 6, 3],
        [3, 3, 3, 1],
      ],
      3,
      ['x', 'filter'],
    );
    r.dispose();
  });

  it('separable conv2d: input, depthwise and pointwise filters', () => {
    const r = weights([1, 3, 3, 3]);
    check(
      (x, d, p) => tf.sum(tf.mul(tf.tanh(tf.separableConv2d(x, d, p, 2, 'same')), r)),
      [
        [1, 5, 6, 2],
        [3, 3, 2, 2],
        [1, 1, 4, 3],
      ],
      4,
      ['x', 'depthwise filter', 'pointwise filter'],
    );
    r.dispose();
  });
});
