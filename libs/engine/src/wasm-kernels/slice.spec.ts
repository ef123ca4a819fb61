import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../backend';
import { randomValues, runKernelOn, seeded } from './kernel-testing';

describe('Slice on wasm (runs copied whole, replacing the backend element loop)', () => {
  // [shape, begin, size]: contiguous blocks, cuts on inner and outer axes, -1 sizes, ranks 1 to 6
  const cases: [number[], number[], number[]][] = [
    [
      [64, 28, 28, 16],
      [0, 0, 0, 0],
      [64, 27, 27, 16],
    ],
    [
      [4, 6, 6, 3],
      [1, 2, 0, 0],
      [2, 3, 6, 3],
    ],
    [
      [4, 6, 6, 3],
      [0, 1, 1, 1],
      [-1, 4, 4, 2],
    ],
    [
      [3, 5, 7],
      [2, 0, 3],
      [1, 5, 4],
    ],
    [[10], [3], [5]],
    [
      [6, 4],
      [0, 0],
      [6, 4],
    ],
    [
      [2, 3, 4, 5, 6],
      [1, 0, 2, 1, 3],
      [1, 3, 2, 3, 2],
    ],
    [
      [2, 2, 3, 2, 3, 2],
      [0, 1, 1, 0, 0, 1],
      [2, 1, 2, 2, 3, 1],
    ],
  ];
  cases.forEach(([shape, begin, size], i) => {
    it(`equals the cpu backend: [${shape}] from [${begin}] size [${size}]`, async () => {
      const x = { values: randomValues(seeded(60 + i), shape), shape };
      const actual = await runKernelOn('wasm', 'Slice', { x }, { begin, size });
      const expected = await runKernelOn('cpu', 'Slice', { x }, { begin, size });
      assert.deepEqual(actual.shape, expected.shape);
      assert.deepEqual(Array.from(actual.values), Array.from(expected.values));
    });
  });

  it('slices int32 and bool tensors, and gives an empty slice', async () => {
    const results = [];
    for (const backend of ['wasm', 'cpu'] as const) {
      await initEngine(backend);
      const ints = tf.tensor3d(
        Int32Array.from({ length: 60 }, (_, i) => i * 7 - 100),
        [3, 4, 5],
        'int32',
      );
      const bools = tf.tensor2d(
        Uint8Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? 1 : 0)),
        [3, 4],
        'bool',
      );
      const a = tf.slice(ints, [1, 1, 2], [2, 2, 3]);
      const b = tf.slice(bools, [0, 1], [3, 2]);
      const e = tf.slice(ints, [0, 0, 0], [3, 0, 5]);
      results.push({ a: [a.dtype, ...(await a.data())], b: [b.dtype, ...(await b.data())], e: [e.shape, (await e.data()).length] });
      tf.dispose([ints, bools, a, b, e]);
    }
    assert.deepEqual(results[0], results[1]);
  });

  it("refuses a slice past the input's end with tfjs's own error", async () => {
    await initEngine('wasm');
    const x = tf.zeros([4, 4]);
    assert.throws(() => tf.slice(x, [2, 0], [3, 4]), /would overflow input/);
    x.dispose();
  });
});
