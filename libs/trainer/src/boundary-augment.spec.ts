import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import * as tf from '@tensorflow/tfjs-core';
import { augmentBoundary, featureDropoutMask, featureNoise } from './boundary-augment';

const at = { seed: 7, epoch: 2 };
const row = (values: Float32Array, i: number, elements: number) => Array.from(values.subarray(i * elements, (i + 1) * elements));

describe('augmentation after the boundary', () => {
  before(async () => {
    await initEngine('wasm');
  });

  it('drops values at the rate and scales the kept ones by 1/(1 - rate)', () => {
    for (const rate of [0.1, 0.5, 0.9]) {
      const mask = featureDropoutMask([3, 11, 40, 1000], 25_000, rate, at);
      const dropped = mask.filter((v) => v === 0).length / mask.length;
      assert.ok(Math.abs(dropped - rate) < 0.01, `rate ${rate}: ${dropped} dropped`);
      const kept = new Set(mask.filter((v) => v !== 0));
      assert.deepEqual([...kept], [Math.fround(1 / (1 - rate))]);
      const mean = mask.reduce((a, v) => a + v, 0) / mask.length;
      assert.ok(Math.abs(mean - 1) < 0.05, `rate ${rate}: mean ${mean} (inverted dropout keeps the expectation)`);
    }
  });

  it('draws each mask from (seed, epoch, sample) alone', () => {
    const elements = 64;
    const batch = featureDropoutMask([5, 9, 12], elements, 0.5, at);
    assert.deepEqual(row(batch, 1, elements), row(featureDropoutMask([9], elements, 0.5, at), 0, elements), 'whatever batch it falls in');
    assert.deepEqual(row(batch, 0, elements), row(featureDropoutMask([12, 5], elements, 0.5, at), 1, elements));
    assert.deepEqual(batch, featureDropoutMask([5, 9, 12], elements, 0.5, { seed: 7, epoch: 2 }), 'repeats');
    assert.notDeepEqual(row(batch, 0, elements), row(batch, 1, elements), 'samples differ');
    const other = (seed: number, epoch: number) => row(featureDropoutMask([5], elements, 0.5, { seed, epoch }), 0, elements);
    assert.notDeepEqual(row(batch, 0, elements), other(7, 3), 'epochs differ');
    assert.notDeepEqual(row(batch, 0, elements), other(8, 2), 'seeds differ');
  });

  it('rate 0 (and no noise) is the identity', () => {
    const acts = tf.tensor2d([
      [1, -2, 3],
      [0.5, 4, -1],
    ]);
    const out = augmentBoundary(acts, [1, 2], { featureNoise: 0, featureDropout: 0 }, at);
    assert.equal(out, acts);
    assert.deepEqual(Array.from(out.dataSync()), [1, -2, 3, 0.5, 4, -1]);
    assert.deepEqual(Array.from(featureDropoutMask([1, 2], 3, 0, at)), [1, 1, 1, 1, 1, 1]);
    out.dispose();
  });

  it('adds the noise, then applies the mask to it, and disposes its input', () => {
    const ids = [4, 8];
    const elements = 6;
    const values = Float32Array.from({ length: ids.length * elements }, (_, i) => i - 5);
    const mask = featureDropoutMask(ids, elements, 0.4, at);
    const noise = featureNoise(ids, elements, 0.5, at);
    const before = tf.memory().numTensors;
    const acts = tf.tensor2d(values, [ids.length, elements]);
    const dropped = augmentBoundary(acts, ids, { featureNoise: 0, featureDropout: 0.4 }, at);
    assert.ok(acts.isDisposed);
    assert.deepEqual(
      Array.from(dropped.dataSync()),
      Array.from(values, (v, i) => Math.fround(v * (mask[i] as number))),
    );
    const both = augmentBoundary(tf.tensor2d(values, [ids.length, elements]), ids, { featureNoise: 0.5, featureDropout: 0.4 }, at);
    const want = values.map((v, i) => Math.fround(Math.fround(v + (noise[i] as number)) * (mask[i] as number)));
    assert.deepEqual(Array.from(both.dataSync()), Array.from(want));
    assert.ok(mask.includes(0) && noise.some((n) => n !== 0), 'the case exercises both');
    tf.dispose([dropped, both]);
    assert.equal(tf.memory().numTensors, before);
  });
});
