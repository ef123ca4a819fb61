import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import { UserError } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';
import { loadBundled } from './bundled';
import { splitAt, validBoundaries } from './model-graph';

describe('bundled mobilenet_v2', () => {
  before(async () => {
    await initEngine('wasm');
  });

  // Load time (about 0.3 s here) is a performance figure: it is measured, not asserted.
  it('loads offline at any square size from 32', async () => {
    const m = await loadBundled('mobilenet_v2', { inputSize: 32 });
    assert.deepEqual(m.outputs[0]?.shape, [null, 1, 1, 1280]);
    assert.equal(m.layers.at(-1)?.name, 'out_relu');
    const m2 = await loadBundled('mobilenet_v2', { inputSize: 64 });
    assert.deepEqual(m2.outputs[0]?.shape, [null, 2, 2, 1280]);
    await assert.rejects(loadBundled('mobilenet_v2', { inputSize: 31 }), UserError);
  });

  it('carries the pretrained weights (not an initialiser)', async () => {
    const a = await loadBundled('mobilenet_v2', { inputSize: 32 });
    const b = await loadBundled('mobilenet_v2', { inputSize: 32, pretrained: false, seed: 1 });
    const wa = a.getLayer('Conv1').getWeights()[0] as tf.Tensor;
    const wb = b.getLayer('Conv1').getWeights()[0] as tf.Tensor;
    assert.ok((tf.max(tf.abs(tf.sub(wa, wb))).dataSync()[0] ?? 0) > 0.01);
    const mean = a.getLayer('bn_Conv1').getWeights()[2] as tf.Tensor; // moving mean
    assert.ok((tf.max(tf.abs(mean)).dataSync()[0] ?? 0) > 0);
  });

  it('cuts at a named layer and has valid boundaries only between blocks', async () => {
    const m = await loadBundled('mobilenet_v2', { inputSize: 32, cut: 'block_3_project_BN' });
    assert.equal(m.layers.at(-1)?.name, 'block_3_project_BN');
    const full = await loadBundled('mobilenet_v2', { inputSize: 32 });
    const valid = validBoundaries(full);
    for (const v of ['block_2_add', 'block_5_add', 'block_16_project_BN', 'Conv_1_bn']) assert.ok(valid.includes(v), v);
    // inside a residual block the block input is still needed by the add
    for (const v of ['block_2_expand_relu', 'block_2_project_BN', 'block_4_depthwise']) assert.ok(!valid.includes(v), v);
    const { prefix, suffix } = splitAt(full, 'block_13_expand_relu');
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 3);
    const y1 = full.predict(x) as tf.Tensor;
    const y2 = suffix.predict(prefix.predict(x) as tf.Tensor) as tf.Tensor;
    assert.ok((tf.max(tf.abs(tf.sub(y1, y2))).dataSync()[0] ?? 1) < 1e-5);
  });

  it('names an unknown cut layer', async () => {
    await assert.rejects(loadBundled('mobilenet_v2', { cut: 'nope' }), /no layer 'nope'/);
    await assert.rejects(loadBundled('resnet', {}), /unknown bundled model/);
  });
});
