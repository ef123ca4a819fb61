import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from '../backend';
import { useFusedWasmKernels } from './fused-switch';
import { assertClose, type Data } from './kernel-testing';

// values on both sides of 0 and 6, the ends exactly
const X = [-2, -0.5, 0, 0.25, 3, 5.99, 6, 6.5, 9, 1e-3, -1e-3, 2];

async function outputAndGradient(backend: 'wasm' | 'cpu', maxValue: number): Promise<Data[]> {
  await initEngine(backend);
  const layer = tfl.layers.reLU({ maxValue });
  const x = tf.tensor2d(X, [3, 4]);
  const w = tf.tensor2d(
    X.map((_, i) => i - 5),
    [3, 4],
  );
  const y = layer.apply(x) as tf.Tensor;
  const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layer.apply(a) as tf.Tensor, w)))(x);
  const out = [
    { values: (await y.data()) as Float32Array, shape: y.shape },
    { values: (await dx.data()) as Float32Array, shape: dx.shape },
  ];
  tf.dispose([x, w, y, dx]);
  return out;
}

describe('ReLU(maxValue 6) layer on wasm as one Relu6', () => {
  it("equals the cpu backend's layer: values and gradient, ends included", async () => {
    const expected = await outputAndGradient('cpu', 6);
    const actual = await outputAndGradient('wasm', 6);
    assertClose(actual[0] as Data, expected[0] as Data, 0, 'y');
    assertClose(actual[1] as Data, expected[1] as Data, 0, 'dx');
  });

  it('runs Relu6 for maxValue 6 only, and the layer as it is with the fused kernels off', async () => {
    await initEngine('wasm');
    const x = tf.randomNormal([2, 5]);
    const kernels = async (maxValue: number) => {
      const layer = tfl.layers.reLU({ maxValue });
      return (await tf.profile(() => tf.dispose(layer.apply(x) as tf.Tensor))).kernelNames;
    };
    assert.deepEqual(await kernels(6), ['Relu6']);
    assert.ok((await kernels(4)).includes('ClipByValue'), 'maxValue 4');
    useFusedWasmKernels(false);
    assert.ok((await kernels(6)).includes('ClipByValue'), 'switched off');
    useFusedWasmKernels(true);
    tf.dispose(x);
  });
});
