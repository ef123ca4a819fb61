import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import { UserError } from '@permafrost/telemetry';
import { assemble } from './assemble';
import { parseBlockPattern } from './blocks';

describe('blocks', () => {
  before(async () => {
    await initEngine('cpu');
  });

  it('groups mobilenet_v2 into its inverted-residual blocks, each ending at a valid boundary', async () => {
    const m = await assemble({ name: 'mobilenet_v2', inputSize: 32, head: 'gap-8' }, { k: 4 }, 10, 1);
    const names = m.layout.blocks.map((b) => b.name);
    assert.equal(names.length, 19);
    assert.deepEqual(names.slice(-5), ['block_13', 'block_14', 'block_15', 'block_16', 'Conv_1']);
    assert.equal(m.boundary, 'block_13_project_BN');
    assert.deepEqual(
      m.trainableBlocks.map((b) => b.last),
      ['block_14_add', 'block_15_add', 'block_16_project_BN', 'out_relu'],
    );
    assert.deepEqual(m.layout.head, ['head_pool', 'head_dense_1', 'head_out']);
    assert.ok(m.trainableBlocks.every((b) => b.flops > 0));
  });

  it('without a pattern: a block per weighted layer, with its normalization and activations', async () => {
    const m = await assemble({ name: 'cnn-small', inputSize: 28 }, { k: 1 }, 10, 1);
    assert.deepEqual(
      m.layout.blocks.map((b) => b.layers),
      [['conv_1', 'bn_1', 'relu_1', 'pool_1'], ['conv_2', 'gap'], ['dense_1']],
    );
    assert.equal(m.boundary, 'gap');
  });

  it('a boundary inside a block leaves the rest of that block trainable as one block', async () => {
    const m = await assemble({ name: 'cnn-small', inputSize: 28 }, { boundary: 'bn_1' }, 10, 1);
    assert.deepEqual(
      m.trainableBlocks.map((b) => b.layers),
      [['relu_1', 'pool_1'], ['conv_2', 'gap'], ['dense_1']],
    );
  });

  it('leaves every block trainable with k = blocks (the boundary is the input)', async () => {
    const m = await assemble({ name: 'cnn-small', inputSize: 28 }, { k: 3 }, 10, 1);
    assert.equal(m.boundary, 'input');
    assert.equal(m.trainableBlocks.length, 3);
  });

  it('refuses k beyond the blocks, and patterns without a capture group', async () => {
    await assert.rejects(
      assemble({ name: 'cnn-small', inputSize: 28 }, { k: 4 }, 10, 1),
      (e: unknown) => e instanceof UserError && /freeze\.k/.test(`${e.field}`),
    );
    assert.throws(() => parseBlockPattern('^block_'), /capture group/);
    assert.throws(() => parseBlockPattern('(['), /regular expression/);
  });
});
