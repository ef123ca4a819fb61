/**
 * Conv layers train on the wasm backend, through the gradient kernels @permafrost/engine adds to
 * it: the kernel check lets them through, their gradients are the cpu backend's, and the loss
 * goes down, for a small CNN with conv2d, depthwise and separable layers and for the built-in
 * cnn-small through fit().
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { relativeError } from '@permafrost/engine/testing';
import { assemble } from '@permafrost/model';
import { UserError } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fit } from './fit';
import { assertGradientKernels } from './kernel-check';
import { crossEntropySum } from './loss';
import { SuffixTrainer } from './suffix-trainer';
import { adam } from './testing';

const SIZE = 10;
const CLASSES = 3;
const SAMPLES = 12;

/** conv 3x3/2 - depthwise 3x3 (multiplier 2) - separable 3x3/2 - global average pool - softmax */
function tinyCnn(): tfl.LayersModel {
  let seed = 1;
  const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [SIZE, SIZE, 2],
        filters: 4,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(),
      }),
      tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu', depthwiseInitializer: init() }),
      tfl.layers.separableConv2d({
        filters: 6,
        kernelSize: 3,
        strides: 2,
        padding: 'valid',
        activation: 'relu',
        depthwiseInitializer: init(),
        pointwiseInitializer: init(),
      }),
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: init() }),
    ],
  });
}

/** Images whose second channel carries a class-dependent stripe pattern, plus seeded noise. */
function syntheticBatch(): { x: tf.Tensor4D; labels: Int32Array } {
  const labels = Int32Array.from({ length: SAMPLES }, (_, i) => i % CLASSES);
  const values = new Float32Array(SAMPLES * SIZE * SIZE * 2);
  let s = 12345;
  for (let i = 0; i < values.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const [n, rest] = [Math.floor(i / (SIZE * SIZE * 2)), i % (SIZE * SIZE * 2)];
    const row = Math.floor(rest / (SIZE * 2));
    const stripe = rest % 2 === 1 && row % CLASSES === (labels[n] as number) ? 1 : 0;
    values[i] = stripe + (s / 2 ** 32 - 0.5) * 0.5;
  }
  return { x: tf.tensor4d(values, [SAMPLES, SIZE, SIZE, 2]), labels };
}

function gradients(model: tfl.LayersModel, x: tf.Tensor4D, labels: Int32Array): Float32Array[] {
  const y = tf.tensor1d(labels, 'int32');
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => crossEntropySum(model.apply(x, { training: true }) as tf.Tensor, y), vars);
  const out = vars.map((v) => (grads[v.name] as tf.Tensor).dataSync() as Float32Array);
  tf.dispose([value, y, ...Object.values(grads)]);
  return out;
}

describe('conv layers train on the wasm backend', () => {
  it('the kernel check lets trainable conv, depthwise and separable layers through, and still names a missing kernel', async () => {
    await initEngine('wasm');
    const model = tinyCnn();
    assertGradientKernels(model);
    const config = tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm');
    assert.ok(config, 'registered by initEngine');
    tf.unregisterKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm');
    try {
      assert.throws(
        () => assertGradientKernels(model),
        (e: unknown) =>
          e instanceof UserError && /the wasm backend lacks DepthwiseConv2dNativeBackpropFilter, needed to train/.test(e.message),
      );
    } finally {
      tf.registerKernel(config);
    }
  });

  it("computes the cpu backend's gradients for every conv, depthwise and separable weight", async () => {
    await initEngine('wasm');
    const model = tinyCnn();
    const { x, labels } = syntheticBatch();
    const onWasm = gradients(model, x, labels);
    await initEngine('cpu');
    const onCpu = gradients(model, x, labels);
    model.trainableWeights.forEach((w, i) => {
      const err = relativeError(onWasm[i] as Float32Array, onCpu[i] as Float32Array);
      assert.ok(err < 1e-4, `${w.originalName}: relative error ${err.toExponential(2)}`);
    });
    x.dispose();
  });

  it('lowers the loss of that CNN over a few SuffixTrainer steps', async () => {
    await initEngine('wasm');
    const model = tinyCnn();
    const { x, labels } = syntheticBatch();
    const trainer = new SuffixTrainer(model, adam(0.05));
    const losses: number[] = [];
    for (let step = 0; step < 10; step++) {
      const r = await trainer.step(x, labels);
      losses.push(r.lossSum / r.count);
    }
    trainer.dispose();
    x.dispose();
    const [first, last] = [losses[0] as number, losses.at(-1) as number];
    assert.ok(last < 0.7 * first, `loss ${losses.map((l) => l.toFixed(3)).join(' -> ')}`);
  });

  it('fit trains the built-in cnn-small past its first conv layer', async () => {
    await initEngine('wasm');
    const dataset = await openDataset('mnist');
    const model = await assemble({ name: 'cnn-small', inputSize: 12 }, { boundary: 'conv_1' }, 10, 3);
    assert.ok(model.suffix.getLayer('conv_2').trainableWeights.length > 0, 'conv_2 trains');
    const ids = Array.from({ length: 64 }, (_, i) => i * 97);
    const r = await fit({
      model,
      dataset,
      trainIds: ids,
      valIds: [],
      epochs: 3,
      batchSize: 16,
      seed: 1,
      optimizer: adam(0.01),
    });
    r.trainer.dispose();
    await dataset.close();
    const losses = r.epochs.map((e) => e.trainLoss);
    assert.ok((losses.at(-1) as number) < (losses[0] as number), `train loss ${losses.map((l) => l.toFixed(3)).join(' -> ')}`);
  });
});
