import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle registers no gradients; tfjs-layers's does, on import (as in the trainer).
import '@tensorflow/tfjs-layers';
import { assertClose, type Data, gradsOn, randomValues, seeded } from './kernel-testing';

function data(seed: number, shape: number[], lo = -1, hi = 1): Data {
  const values = randomValues(seeded(seed), shape).map((v) => lo + ((v + 1) / 2) * (hi - lo));
  return { values, shape };
}

const EPSILON = 1e-3;
const NAMES = ['x', 'mean', 'variance', 'offset', 'scale'];

// The expected values come through the same registered gradient on the cpu backend, where it
// falls back to tfjs's own: both paths of the override run in every case.
describe('FusedBatchNorm gradient on wasm (FusedBatchNormGrad, one kernel)', () => {
  const shapes: number[][] = [
    [2, 3, 3, 5],
    [4, 1, 1, 16],
    [3, 7],
  ];
  shapes.forEach((shape, i) => {
    const c = shape.at(-1) as number;
    it(`equals the cpu backend's for x, mean, variance, offset and scale: x [${shape}]`, async () => {
      const inputs = [data(500 + i, shape), data(510 + i, [c]), data(520 + i, [c], 0.1, 2), data(530 + i, [c]), data(540 + i, [c])];
      const w = data(550 + i, shape);
      const loss = (x: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor, ww: tf.Tensor) =>
        tf.sum(tf.mul(tf.batchNorm(x, m as tf.Tensor1D, v as tf.Tensor1D, o as tf.Tensor1D, s as tf.Tensor1D, EPSILON), ww));
      const actual = await gradsOn('wasm', loss, [...inputs, w]);
      const expected = await gradsOn('cpu', loss, [...inputs, w]);
      for (const [k, name] of NAMES.entries()) assertClose(actual[k] as Data, expected[k] as Data, 1e-5, name);
    });
  });

  it("equals the cpu backend's in training mode (statistics from the batch, as layers compute them)", async () => {
    const shape = [4, 3, 3, 6];
    const inputs = [data(600, shape, -2, 3), data(601, [6]), data(602, [6])];
    const w = data(603, shape);
    const loss = (x: tf.Tensor, o: tf.Tensor, s: tf.Tensor, ww: tf.Tensor) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(x, mean, variance, o as tf.Tensor1D, s as tf.Tensor1D, EPSILON), ww));
    };
    const actual = await gradsOn('wasm', loss, [...inputs, w]);
    const expected = await gradsOn('cpu', loss, [...inputs, w]);
    for (const [k, name] of ['x', 'offset', 'scale'].entries()) assertClose(actual[k] as Data, expected[k] as Data, 1e-4, name);
  });
});
