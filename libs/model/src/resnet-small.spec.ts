import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import * as tf from '@tensorflow/tfjs-core';
import { assemble } from './assemble';
import { listModels } from './model-table';

describe('resnet-small', () => {
  before(async () => {
    await initEngine('cpu');
  });

  it('groups its residual units into the blocks FreezeOut freezes, each ending at a valid boundary', async () => {
    const m = await assemble({ name: 'resnet-small', inputSize: 16 }, { policy: 'freezeout' }, 10, 3);
    assert.equal(m.boundary, 'input');
    assert.deepEqual(
      m.layout.blocks.map((b) => `${b.name}:${b.last}`),
      ['stem:stem_relu', 'stage1_unit1:stage1_unit1_out', 'stage2_unit1:stage2_unit1_out', 'stage3_unit1:stage3_unit1_out'],
    );
    assert.deepEqual(m.layout.head, ['gap', 'classifier']);
    assert.deepEqual(
      m.trainableBlocks.map((b) => b.name),
      m.layout.blocks.map((b) => b.name),
    );
    const bn = m.full.layers.filter((l) => l.getClassName() === 'BatchNormalization');
    const convs = m.full.layers.filter((l) => l.getClassName() === 'Conv2D');
    assert.equal(bn.length, convs.length, 'every conv is followed by BatchNormalization');
    assert.equal(convs.length, 9);
    const out = m.full.predict(tf.ones([2, 16, 16, 1])) as tf.Tensor;
    assert.deepEqual(out.shape, [2, 10]);
  });

  it('is seeded: two builds with one seed are bit-identical, another seed differs', async () => {
    const weights = async (seed: number) =>
      (await assemble({ name: 'resnet-small', inputSize: 12 }, {}, 10, seed)).full.weights.map((w) => Array.from(w.read().dataSync()));
    const a = await weights(5);
    assert.deepEqual(await weights(5), a);
    assert.notDeepEqual(await weights(6), a);
  });

  it('is listed by models ls', () => {
    assert.ok(listModels().some((m) => m.name === 'resnet-small' && m.kind === 'built-in'));
  });
});
