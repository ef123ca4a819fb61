import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from '../backend';
import { BATCH_NORM_TRAINING } from './batch-norm-training';
import { useFusedWasmKernels } from './fused-switch';
import { assertClose, type Data, randomValues, seeded } from './kernel-testing';

function data(seed: number, shape: number[], lo = -1, hi = 1): Data {
  const values = randomValues(seeded(seed), shape).map((v) => lo + ((v + 1) / 2) * (hi - lo));
  return { values, shape };
}

/** A layer applied to tensors only is never "used" for Layer.dispose; its weights are freed here. */
const disposeWeights = (layer: tfl.layers.Layer) => {
  for (const w of layer.weights) w.dispose();
};

const read = async (t: tf.Tensor): Promise<Data> => ({ values: (await t.data()) as Float32Array, shape: t.shape });

/**
 * A BatchNormalization layer (momentum 0.9, epsilon 1e-3) trained one step on a weighted sum of
 * its output: the output, the gradients of x, gamma and beta, and the moving statistics after.
 */
async function layerStep(backend: 'wasm' | 'cpu', shape: number[], seed: number): Promise<Data[]> {
  await initEngine(backend);
  const c = shape.at(-1) as number;
  const layer = tfl.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-3 });
  layer.build(shape);
  const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable) as [tf.Variable, tf.Variable];
  gamma.assign(tf.tensor(data(seed + 1, [c], 0.5, 2).values, [c]));
  beta.assign(tf.tensor(data(seed + 2, [c]).values, [c]));
  const x = tf.tensor(data(seed, shape, -2, 3).values, shape);
  const w = tf.tensor(data(seed + 3, shape).values, shape);
  let y: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const out = layer.apply(x, { training: true }) as tf.Tensor;
    y = tf.keep(out.clone());
    return tf.sum(tf.mul(out, w)) as tf.Scalar;
  }, [gamma, beta]);
  const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layer.apply(a, { training: true }) as tf.Tensor, w)))(x);
  const moving = layer.nonTrainableWeights.map((v) => v.read());
  const out = await Promise.all([y as tf.Tensor, dx, grads[gamma.name] as tf.Tensor, grads[beta.name] as tf.Tensor, ...moving].map(read));
  tf.dispose([x, w, value, dx, y as tf.Tensor, ...Object.values(grads)]);
  disposeWeights(layer);
  return out;
}

const NAMES = ['y', 'dx', 'dgamma', 'dbeta', 'moving mean', 'moving variance'];

describe('BatchNormalization in training mode on wasm (BatchNormTraining, one kernel and one gradient)', () => {
  for (const [i, shape] of [
    [4, 3, 3, 6],
    [2, 5, 7],
    [8, 16],
  ].entries()) {
    it(`a layer's training step equals the cpu backend's: x [${shape}]`, async () => {
      const expected = await layerStep('cpu', shape, 700 + 10 * i);
      const actual = await layerStep('wasm', shape, 700 + 10 * i);
      for (const [k, name] of NAMES.entries()) assertClose(actual[k] as Data, expected[k] as Data, 1e-4, name);
    });
  }

  it('the layer runs it in training mode only, and only with the fused kernels on', async () => {
    await initEngine('wasm');
    const layer = tfl.layers.batchNormalization({});
    const x = tf.randomNormal([2, 3, 3, 4]);
    const ran = async (training: boolean) =>
      (await tf.profile(() => tf.dispose(layer.apply(x, { training }) as tf.Tensor))).kernelNames.includes(BATCH_NORM_TRAINING);
    assert.equal(await ran(true), true, 'training');
    assert.equal(await ran(false), false, 'inference');
    useFusedWasmKernels(false);
    assert.equal(await ran(true), false, 'switched off');
    useFusedWasmKernels(true);
    tf.dispose(x);
    disposeWeights(layer);
  });

  it("differentiates through the statistics it returns like tf.moments (cpu: tfjs's ops)", async () => {
    const shape = [3, 2, 2, 5];
    const inputs = [data(800, shape, -1, 2), data(801, [5], 0.5, 1.5), data(802, [5])];
    const weights = [data(803, shape), data(804, [5]), data(805, [5])];
    const run = async (backend: 'wasm' | 'cpu') => {
      await initEngine(backend);
      const [w, wm, wv] = weights.map((d) => tf.tensor(d.values, d.shape));
      const f = (x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor) => {
        let y: tf.Tensor;
        let mean: tf.Tensor;
        let variance: tf.Tensor;
        if (backend === 'wasm') {
          [y, mean, variance] = tf
            .engine()
            .runKernel(BATCH_NORM_TRAINING, { x, scale, offset }, { varianceEpsilon: 1e-3 }) as tf.Tensor[] as [
            tf.Tensor,
            tf.Tensor,
            tf.Tensor,
          ];
        } else {
          ({ mean, variance } = tf.moments(x, [0, 1, 2]));
          y = tf.batchNorm(x, mean, variance, offset as tf.Tensor1D, scale as tf.Tensor1D, 1e-3);
        }
        return tf.addN([
          tf.sum(tf.mul(y, w as tf.Tensor)),
          tf.sum(tf.mul(mean, wm as tf.Tensor)),
          tf.sum(tf.mul(variance, wv as tf.Tensor)),
        ]);
      };
      const tensors = inputs.map((d) => tf.tensor(d.values, d.shape));
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => f(a, b, c) as tf.Scalar)(tensors);
      const out = await Promise.all(grads.map(read));
      tf.dispose([...grads, ...tensors, w as tf.Tensor, wm as tf.Tensor, wv as tf.Tensor]);
      return out;
    };
    const actual = await run('wasm');
    const expected = await run('cpu');
    for (const [k, name] of ['dx', 'dscale', 'doffset'].entries()) assertClose(actual[k] as Data, expected[k] as Data, 1e-4, name);
  });

  it('leaves no tensors or buffers behind over training steps', async () => {
    await initEngine('wasm');
    const layer = tfl.layers.batchNormalization({});
    layer.build([2, 3, 3, 4]);
    const x = tf.randomNormal([2, 3, 3, 4]);
    const step = () => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.square(layer.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
        layer.trainableWeights.map((w) => w.read() as tf.Variable),
      );
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    for (let i = 0; i < 3; i++) step();
    assert.equal(tf.memory().numTensors, tensors, 'tensors');
    assert.equal(tf.engine().backend.numDataIds(), buffers, 'buffers');
    tf.dispose(x);
    disposeWeights(layer);
  });
});
