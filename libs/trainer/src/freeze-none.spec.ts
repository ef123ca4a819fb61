import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Dataset, localEpochPlan, openDataset, preprocess } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { assemble } from '@permafrost/model';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { fit } from './fit';
import { maxRelDiff, sgd } from './testing';

const root = mkdtempSync(join(tmpdir(), 'permafrost-none-'));
after(() => rmSync(root, { recursive: true, force: true }));

const trainIds = Array.from({ length: 48 }, (_, i) => i * 211);
const valIds = [7, 1507, 3007, 4507];
const run = { epochs: 2, batchSize: 16, seed: 9 };
const lr = 0.05;
const momentum = 0.9;

const allWeights = (m: tfl.LayersModel) => m.weights.map((w) => (w.read().dataSync() as Float32Array).slice());

/**
 * The same training written directly against tfjs: the whole model in training mode, the mean
 * cross-entropy of each batch, tf.train.momentum, the batches in the run's seeded order.
 */
async function plainLoop(model: tfl.LayersModel, dataset: Dataset, input: { sizePx: number; channels: 1 | 3; range: [number, number] }) {
  const optimizer = tf.train.momentum(lr, momentum);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  for (let epoch = 1; epoch <= run.epochs; epoch++) {
    // one shard of everything: the run's global batches in its seeded order
    for (const ids of localEpochPlan(trainIds, run.seed, epoch, run.batchSize, [0], 1).steps) {
      const x = preprocess(await dataset.read(ids, { sizePx: input.sizePx }), input);
      const y = tf.oneHot(
        tf.tensor1d(
          Int32Array.from(ids, (id) => dataset.label(id)),
          'int32',
        ),
        10,
      );
      optimizer.minimize(
        () =>
          tf.neg(
            tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(model.apply(x, { training: true }) as tf.Tensor, 1e-7, 1 - 1e-7))), -1)),
          ) as tf.Scalar,
        false,
        vars,
      );
      tf.dispose([x, y]);
    }
  }
  optimizer.dispose();
}

describe('freeze policy none', () => {
  let dataset: Dataset;
  before(async () => {
    await initEngine('cpu');
    dataset = await openDataset('mnist');
  });
  after(async () => {
    await dataset.close();
  });

  it('trains every weight and matches a plain tfjs training loop of the same model', async () => {
    const model = await assemble({ name: 'cnn-small', inputSize: 10 }, { policy: 'none' }, 10, run.seed);
    assert.equal(model.boundary, 'input');
    assert.equal(model.suffix.trainableWeights.length, model.full.trainableWeights.length);
    const initial = allWeights(model.full);
    const r = await fit({
      model,
      dataset,
      trainIds,
      valIds,
      ...run,
      optimizer: sgd(lr, { momentum }),
      freeze: { policy: 'none' },
      cache: { dir: join(root, 'cache'), codec: 'float32', modelName: 'cnn-small' },
    });
    r.trainer.dispose();
    const trained = allWeights(model.full);
    model.full.weights.forEach((w, i) => {
      assert.notDeepEqual(trained[i], initial[i], `${w.originalName} did not change`);
    });
    assert.equal(r.fingerprints.length, 0, 'nothing frozen: the cache is not opened');
    assert.equal(r.prefixSamples, 0);
    assert.ok(r.epochs.every((e) => !e.cached && e.boundary === 'input'));

    const plain = await assemble({ name: 'cnn-small', inputSize: 10 }, { policy: 'none' }, 10, run.seed);
    assert.equal(maxRelDiff(allWeights(plain.full), initial), 0, 'the same seeded start');
    await plainLoop(plain.full, dataset, plain.input);
    const d = maxRelDiff(trained, allWeights(plain.full));
    assert.ok(d <= 1e-4, `max relative difference to the plain loop: ${d}`);
  });

  it('trainableLast covering every layer and k covering every block freeze nothing', async () => {
    const byLayers = await assemble({ name: 'cnn-small', inputSize: 10 }, { trainableLast: 9 }, 10, 1);
    assert.equal(byLayers.boundary, 'input');
    const byBlocks = await assemble({ name: 'cnn-small', inputSize: 10 }, { k: 3 }, 10, 1);
    assert.equal(byBlocks.boundary, 'input');
    assert.deepEqual(
      byBlocks.trainableBlocks.map((b) => b.name),
      ['conv_1', 'conv_2', 'dense_1'],
    );
  });
});
