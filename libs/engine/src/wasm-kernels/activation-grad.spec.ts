import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle registers no gradients; tfjs-layers's does, on import (as in the trainer).
import '@tensorflow/tfjs-layers';
import { assertClose, type Data, gradsOn, randomValues, runKernelOn, seeded } from './kernel-testing';

/** Values spread over [-9, 9] with the edges (0, 6, -2 and their neighbours) among them. */
function activations(seed: number, shape: number[]): Data {
  const values = randomValues(seeded(seed), shape).map((v) => v * 9);
  values.set([0, 6, -0, 6.0000005, 5.9999995, -1e-7, 1e-7, -2, -2.0000002], 0);
  return { values, shape };
}

const OPS: [string, (x: tf.Tensor) => tf.Tensor][] = [
  ['relu6', (x) => tf.relu6(x)],
  ['clipByValue(-2, 6)', (x) => tf.clipByValue(x, -2, 6)],
  ['relu then clipByValue(0, 6) (a Keras ReLU(max_value=6))', (x) => tf.clipByValue(tf.relu(x), 0, 6)],
];

describe('relu6 and clipByValue gradients on wasm (one kernel each)', () => {
  const shape = [2, 3, 3, 7];
  OPS.forEach(([name, op], i) => {
    it(`equal the cpu backend's: ${name}`, async () => {
      const x = activations(200 + i, shape);
      const w = { values: randomValues(seeded(300 + i), shape), shape };
      const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a), b));
      const [actual] = await gradsOn('wasm', loss, [x, w]);
      const [expected] = await gradsOn('cpu', loss, [x, w]);
      // the masks agree exactly: every value is dy or zero on both backends
      assertClose(actual as Data, expected as Data, 0, name);
    });
  });

  it('masks the ends of the range in, and what lies beyond out', async () => {
    const x = { values: Float32Array.from([-1, 0, 3, 6, 6.0000005, 7]), shape: [6] };
    const dy = { values: Float32Array.from([2, 3, 4, 5, 6, 7]), shape: [6] };
    const relu6 = await runKernelOn('wasm', 'Relu6Grad', { dy, x }, {});
    assert.deepEqual(Array.from(relu6.values), [0, 0, 4, 5, 0, 0]);
    const clip = await runKernelOn('wasm', 'ClipByValueGrad', { dy, x }, { clipValueMin: 0, clipValueMax: 6 });
    assert.deepEqual(Array.from(clip.values), [0, 3, 4, 5, 0, 0]);
  });
});
