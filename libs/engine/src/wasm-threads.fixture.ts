/**
 * Child process of wasm-threads.spec.ts: initialises wasm with --threads N, takes the gradients
 * of a small conv-net loss (convolutions, depthwise, batch normalisation, relu6, a dense layer)
 * on seeded data, and prints { threads, grads } as one JSON line, then returns without calling
 * process.exit, so that a pool that kept the process alive would show as a timeout.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { initEngine } from './backend';
import { randomValues, seeded } from './wasm-kernels/kernel-testing';

const threads = Number(process.argv[process.argv.indexOf('--threads') + 1]);
const engine = await initEngine('wasm', { threads });
const rand = seeded(2024);
const t = (shape: number[]) => tf.tensor(randomValues(rand, shape), shape, 'float32');
const inputs = [t([8, 16, 16, 8]), t([1, 1, 8, 64]), t([3, 3, 64, 1]), t([64]), t([64]), t([64, 10])];
const loss = (x: tf.Tensor, w1: tf.Tensor, dw: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, dense: tf.Tensor) => {
  const a = tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same');
  const { mean, variance } = tf.moments(a, [0, 1, 2]);
  const b = tf.relu6(tf.batchNorm(a, mean, variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-3));
  const c = tf.clipByValue(tf.relu(tf.depthwiseConv2d(b as tf.Tensor4D, dw as tf.Tensor4D, 2, 'same')), 0, 6);
  return tf.sum(tf.square(tf.matMul(tf.mean(c, [1, 2]), dense)));
};
const grads = tf.grads(loss)(inputs);
const values = await Promise.all(grads.map(async (g) => Array.from((await g.data()) as Float32Array)));
process.stdout.write(`${JSON.stringify({ threads: engine.threads, grads: values })}\n`);
