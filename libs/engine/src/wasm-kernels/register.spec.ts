import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle registers no gradients; tfjs-layers's does, on import (as in the trainer).
import '@tensorflow/tfjs-layers';
import { initEngine, missingKernels } from '../backend';
import { randomValues, seeded } from './kernel-testing';
import { registerWasmGradientKernels, WASM_GRADIENT_KERNELS, WASM_TRAINING_KERNELS } from './register';

const rand = seeded(7);
const t = (shape: number[]) => tf.tensor(randomValues(rand, shape), shape, 'float32');

/**
 * A loss through a strided conv, a depthwise conv with multiplier 2 and a separable conv, then a
 * batch normalisation with the batch's statistics and relu, relu6 and clipByValue.
 */
function loss([x, filter, depthwise, separable, pointwise, offset, scale]: tf.Tensor[]): tf.Scalar {
  const a = tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 2, 'same');
  const b = tf.depthwiseConv2d(a, depthwise as tf.Tensor4D, 1, 'valid');
  const c = tf.separableConv2d(b, separable as tf.Tensor4D, pointwise as tf.Tensor4D, 2, 'same');
  const { mean, variance } = tf.moments(c, [0, 1, 2]);
  const d = tf.batchNorm(c, mean, variance, offset as tf.Tensor1D, scale as tf.Tensor1D, 1e-3);
  return tf.sum(tf.tanh(tf.clipByValue(tf.relu6(tf.relu(d)), -1, 1)));
}

describe('wasm gradient kernels registration', () => {
  it('initEngine(wasm) registers the kernels it adds, once', async () => {
    await initEngine('wasm');
    assert.deepEqual(WASM_GRADIENT_KERNELS, [
      'Conv2DBackpropFilter',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'Relu6Grad',
      'ClipByValueGrad',
      'FusedBatchNormGrad',
    ]);
    assert.deepEqual(WASM_TRAINING_KERNELS, ['AdamUpdate', 'BatchNormTraining']);
    assert.deepEqual(missingKernels([...WASM_GRADIENT_KERNELS, ...WASM_TRAINING_KERNELS]), []);
    assert.deepEqual(registerWasmGradientKernels(), [], 'a second registration adds nothing');
    await initEngine('cpu');
    await initEngine('wasm');
    assert.deepEqual(missingKernels(WASM_GRADIENT_KERNELS), []);
  });

  it('computes conv, depthwise and separable gradients with them and leaves no tensors or buffers behind', async () => {
    await initEngine('wasm');
    const inputs = [t([2, 9, 8, 3]), t([3, 3, 3, 4]), t([3, 3, 4, 2]), t([3, 3, 8, 1]), t([1, 1, 8, 5]), t([5]), t([5])];
    const grads = tf.grads((...args: tf.Tensor[]) => loss(args));
    const step = () => {
      const g = grads(inputs);
      for (const v of g) assert.ok(v.dataSync().every(Number.isFinite));
      tf.dispose(g);
    };
    const profile = await tf.profile(step);
    for (const k of WASM_GRADIENT_KERNELS) assert.ok(profile.kernelNames.includes(k), `${k} ran`);
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    for (let i = 0; i < 5; i++) step();
    assert.equal(tf.memory().numTensors, tensors, 'tensors');
    assert.equal(tf.engine().backend.numDataIds(), buffers, 'backend buffers');
    tf.dispose(inputs);
  });

  it('trains a pooled dense head like the cpu backend, through the wrapped BatchMatMul and Mean, without leaks', async () => {
    const r = seeded(11);
    const values = [randomValues(r, [4, 3, 3, 6]), randomValues(r, [6, 5]), randomValues(r, [5, 3])];
    const run = async (backend: 'wasm' | 'cpu') => {
      await initEngine(backend);
      const [x, w1, w2] = [
        tf.tensor4d(values[0] as Float32Array, [4, 3, 3, 6]),
        tf.tensor2d(values[1] as Float32Array, [6, 5]),
        tf.tensor2d(values[2] as Float32Array, [5, 3]),
      ];
      const head = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(tf.relu(tf.matMul(tf.mean(x, [1, 2]), a)), b)));
      const g = tf.grads(head);
      const step = () => g([w1 as tf.Tensor, w2 as tf.Tensor]);
      const first = step();
      const out = await Promise.all(first.map((t) => t.data() as Promise<Float32Array>));
      tf.dispose(first);
      const tensors = tf.memory().numTensors;
      const buffers = tf.engine().backend.numDataIds();
      for (let i = 0; i < 3; i++) tf.dispose(step());
      assert.equal(tf.memory().numTensors, tensors, `${backend} tensors`);
      assert.equal(tf.engine().backend.numDataIds(), buffers, `${backend} backend buffers`);
      tf.dispose([x, w1, w2]);
      return out;
    };
    const wasm = await run('wasm');
    const cpu = await run('cpu');
    wasm.forEach((w, i) => {
      const c = cpu[i] as Float32Array;
      for (let j = 0; j < c.length; j++)
        assert.ok(Math.abs((w[j] as number) - (c[j] as number)) <= 1e-4 * Math.max(1, Math.abs(c[j] as number)), `grad ${i}[${j}]`);
    });
  });
});
