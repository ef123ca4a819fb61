import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { assemble, loadModelFile } from '@permafrost/model';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { fit } from './fit';
import { sgd as sgdAt } from './testing';

const sgd = sgdAt(0.05, { momentum: 0.9, weightDecay: 1e-4 });
const dir = mkdtempSync(join(tmpdir(), 'permafrost-fit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function snapshot(layers: tfl.layers.Layer[]): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const l of layers) for (const w of l.weights) m.set(w.originalName, (w.read().dataSync() as Float32Array).slice());
  return m;
}

describe('fit', () => {
  before(async () => {
    await initEngine('cpu');
  });

  it('keeps the frozen prefix bit-identical (weights and BN statistics) and trains the suffix', async () => {
    const dataset = await openDataset('mnist');
    const model = await assemble({ name: 'cnn-small', inputSize: 12 }, { boundary: 'pool_1' }, 10, 3);
    assert.deepEqual(
      model.prefix.layers.map((l) => l.name),
      ['input', 'conv_1', 'bn_1', 'relu_1', 'pool_1'],
    );
    const bn = model.full.getLayer('bn_1');
    assert.deepEqual(
      bn.weights.map((w) => w.originalName),
      ['bn_1/gamma', 'bn_1/beta', 'bn_1/moving_mean', 'bn_1/moving_variance'],
    );
    const frozenBefore = snapshot(model.prefix.layers);
    const suffixBefore = snapshot(model.suffix.layers);
    const ids = Array.from({ length: 48 }, (_, i) => i * 200);
    const result = await fit({ model, dataset, trainIds: ids, valIds: [1, 2, 3, 4], epochs: 2, batchSize: 16, seed: 1, optimizer: sgd });
    result.trainer.dispose();
    const frozenAfter = snapshot(model.prefix.layers);
    assert.equal(frozenAfter.size, 6);
    for (const [name, v] of frozenBefore) assert.deepEqual(frozenAfter.get(name), v, `${name} changed`);
    for (const [name, v] of snapshot(model.suffix.layers)) {
      assert.notDeepEqual(v, suffixBefore.get(name), `${name} did not train`);
    }
    assert.equal(result.epochs.length, 2);
    await dataset.close();
  });

  it('is reproducible from the seed', async () => {
    const dataset = await openDataset('mnist');
    const run = async () => {
      const model = await assemble({ name: 'mlp', inputSize: 10 }, { trainableLast: 2 }, 10, 5);
      const r = await fit({
        model,
        dataset,
        trainIds: [5, 900, 1800, 2700, 3600, 4500, 5400, 6300],
        valIds: [10, 20],
        epochs: 2,
        batchSize: 4,
        seed: 9,
        optimizer: { ...sgd, optimizer: 'adam', lr: 0.01 },
      });
      r.trainer.dispose();
      return { w: snapshot(model.suffix.layers), loss: r.epochs.map((e) => e.trainLoss) };
    };
    const a = await run();
    const b = await run();
    assert.deepEqual(a.loss, b.loss);
    assert.deepEqual([...a.w.values()], [...b.w.values()]);
    await dataset.close();
  });

  it('writes a checkpoint that loads back with the same predictions, with optimizer state and meta', async () => {
    const dataset = await openDataset('mnist');
    const model = await assemble({ name: 'mlp', inputSize: 10 }, {}, 10, 5);
    const ckpt = join(dir, 'ckpt');
    const r = await fit({
      model,
      dataset,
      trainIds: [1, 1001, 2001, 3001],
      valIds: [7],
      epochs: 2,
      batchSize: 2,
      seed: 1,
      optimizer: sgd,
      checkpoint: { dir: ckpt, everyEpoch: true },
    });
    r.trainer.dispose();
    assert.equal(r.checkpoint, join(ckpt, 'final'));
    const meta = JSON.parse(readFileSync(join(ckpt, 'final', 'meta.json'), 'utf8'));
    assert.equal(meta.epoch, 2);
    assert.equal(meta.step, 4);
    assert.equal(JSON.parse(readFileSync(join(ckpt, 'latest.json'), 'utf8')).checkpoint, 'final');
    const optimizer = JSON.parse(readFileSync(join(ckpt, 'final', 'optimizer.json'), 'utf8'));
    assert.ok(optimizer.weightsManifest[0].weights.length > 1, 'momentum slots saved');
    const loaded = await loadModelFile(join(ckpt, 'epoch-0001', 'model.json'));
    assert.ok(loaded);
    const back = await loadModelFile(join(ckpt, 'final', 'model.json'));
    const x = tf.randomUniform([3, 10, 10, 1], 0, 1, 'float32', 2);
    assert.deepEqual((back.predict(x) as tf.Tensor).dataSync(), (model.full.predict(x) as tf.Tensor).dataSync());
    await dataset.close();
  });
});
