/**
 * Test support for training (`@permafrost/trainer/testing`, for specs, tests and benchmarks only):
 * optimizer settings, comparisons of trained weights, counting the samples through a layer.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { OptimizerSpec } from './optimizer';

/** Adam at learning rate `lr`, without weight decay. */
export const adam = (lr: number): OptimizerSpec => ({ optimizer: 'adam', lr, momentum: 0, nesterov: false, weightDecay: 0 });

/** SGD at learning rate `lr`; plain unless `opts` adds momentum, nesterov or weight decay. */
export const sgd = (lr: number, opts: Partial<Pick<OptimizerSpec, 'momentum' | 'nesterov' | 'weightDecay'>> = {}): OptimizerSpec => ({
  optimizer: 'sgd',
  lr,
  momentum: 0,
  nesterov: false,
  weightDecay: 0,
  ...opts,
});

/** Copies of a model's trainable weights' values. */
export function trainableValues(m: tfl.LayersModel): Float32Array[] {
  return m.trainableWeights.map((w) => (w.read().dataSync() as Float32Array).slice());
}

/** The largest |a - b| / max(|a|, 1e-3) over two lists of weight arrays. */
export function maxRelDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((x, i) => {
    const y = b[i] as Float32Array;
    x.forEach((v, j) => {
      worst = Math.max(worst, Math.abs(v - (y[j] as number)) / Math.max(Math.abs(v), 1e-3));
    });
  });
  return worst;
}

/** The small MNIST run the cache and FreezeOut specs share: 48 training ids (3 batches of 16), 8 validation ids, 3 epochs. */
export const smallRun = {
  trainIds: Array.from({ length: 48 }, (_, i) => i * 197),
  valIds: [5, 1505, 3005, 4505, 6005, 7505, 9005, 9999],
  epochs: 3,
  batchSize: 16,
  seed: 4,
};

/** From now on, counts the samples that go through layer `name` of `model` (training and inference calls). */
export function countLayerSamples(model: tfl.LayersModel, name: string): { samples: number } {
  const counter = { samples: 0 };
  const layer = model.getLayer(name);
  const call = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => {
    counter.samples += ((Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor).shape[0] ?? 0;
    return call(inputs, kwargs);
  };
  return counter;
}
