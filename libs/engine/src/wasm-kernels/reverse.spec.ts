import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../backend';
import { useFusedWasmKernels } from './fused-switch';
import { randomValues, runKernelOn, seeded } from './kernel-testing';

describe('Reverse on wasm (runs copied whole, wrapping the backend kernel)', () => {
  // [shape, dims]: a conv filter's spatial flip, one outer axis, inner ones, the innermost (the backend's path), none
  const cases: [number[], number[]][] = [
    [
      [3, 3, 960, 1],
      [0, 1],
    ],
    [
      [3, 3, 4, 5],
      [0, 1],
    ],
    [[2, 5, 3, 4], [1]],
    [
      [4, 3, 2],
      [0, 1],
    ],
    [[6, 7], [0]],
    [
      [2, 3, 4, 5, 6],
      [0, 2, 3],
    ],
    [[5, 4], [1]],
    [[3, 4], []],
    [[7], [0]],
  ];
  cases.forEach(([shape, dims], i) => {
    it(`equals the cpu backend: [${shape}] along [${dims}]`, async () => {
      const x = { values: randomValues(seeded(90 + i), shape), shape };
      const actual = await runKernelOn('wasm', 'Reverse', { x }, { dims });
      const expected = await runKernelOn('cpu', 'Reverse', { x }, { dims });
      assert.deepEqual(actual.shape, expected.shape);
      assert.deepEqual(Array.from(actual.values), Array.from(expected.values));
    });
  });

  it('reverses int32 and bool tensors, negative axes and a scalar as the cpu backend does; the switch gives the backend kernel', async () => {
    const results = [];
    for (const [backend, fused] of [
      ['wasm', true],
      ['wasm', false],
      ['cpu', true],
    ] as const) {
      await initEngine(backend);
      useFusedWasmKernels(fused);
      const ints = tf.tensor3d(
        Int32Array.from({ length: 24 }, (_, i) => i * 5 - 40),
        [2, 3, 4],
        'int32',
      );
      const bools = tf.tensor2d(
        Uint8Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? 1 : 0)),
        [4, 3],
        'bool',
      );
      const a = tf.reverse(ints, [-3, 1]);
      const b = tf.reverse(bools, 0);
      const c = tf.reverse(tf.scalar(3), []);
      results.push([a.dtype, ...(await a.data()), b.dtype, ...(await b.data()), ...(await c.data())]);
      tf.dispose([ints, bools, a, b, c]);
      useFusedWasmKernels(true);
    }
    assert.deepEqual(results[0], results[2]);
    // the backend's own kernel, switched back: its bool output is wrong, so int32 only
    assert.deepEqual(results[1]?.slice(0, 25), results[2]?.slice(0, 25));
  });
});
