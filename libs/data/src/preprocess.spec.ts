import '@tensorflow/tfjs-backend-cpu';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { RawBatch } from './dataset';
import { preprocess, preprocessId } from './preprocess';

before(async () => {
  await tf.setBackend('cpu');
});

function batch(n: number, h: number, w: number, c: number, fill: (i: number) => number): RawBatch {
  return {
    ids: Array.from({ length: n }, (_, i) => i),
    labels: new Int32Array(n),
    pixels: Float32Array.from({ length: n * h * w * c }, (_, i) => fill(i)),
    shape: [n, h, w, c],
  };
}

const near = (a: ArrayLike<number>, b: ArrayLike<number>, eps = 1e-6) =>
  a.length === b.length && Array.from(a).every((v, i) => Math.abs(v - (b[i] as number)) < eps);

describe('preprocess', () => {
  it('passes a matching batch through unchanged', () => {
    const b = batch(2, 4, 4, 1, (i) => (i % 16) / 15);
    const x = preprocess(b, { sizePx: 4, channels: 1, range: [0, 1] });
    assert.deepEqual(x.shape, [2, 4, 4, 1]);
    assert.ok(near(x.dataSync(), b.pixels));
    x.dispose();
  });

  it('resizes, tiles grey to RGB and maps [0,1] to the range', () => {
    const b = batch(3, 28, 28, 1, (i) => (i % 2 === 0 ? 0 : 1));
    const x = preprocess(b, { sizePx: 8, channels: 3, range: [-1, 1] });
    assert.deepEqual(x.shape, [3, 8, 8, 3]);
    const v = x.dataSync();
    for (let i = 0; i < v.length; i += 3) assert.ok(v[i] === v[i + 1] && v[i] === v[i + 2]);
    const [min, max] = [Math.min(...v), Math.max(...v)];
    assert.ok(min >= -1 - 1e-6 && max <= 1 + 1e-6, `${min}..${max}`);
    x.dispose();
    const ends = preprocess(
      batch(1, 2, 2, 1, (i) => i % 2),
      { sizePx: 2, channels: 1, range: [-1, 1] },
    );
    assert.ok(near(ends.dataSync(), [-1, 1, -1, 1]));
    ends.dispose();
  });

  it('averages RGB to grey', () => {
    const b = batch(1, 2, 2, 3, (i) => [0.3, 0.6, 0.9][i % 3] as number);
    const x = preprocess(b, { sizePx: 2, channels: 1, range: [0, 1] });
    assert.deepEqual(x.shape, [1, 2, 2, 1]);
    assert.ok(near(x.dataSync(), [0.6, 0.6, 0.6, 0.6]));
    x.dispose();
  });

  it('resizes bilinearly without half-pixel centres', () => {
    // 1x2 -> 1x4 with alignCorners=false: source x = dst x * 0.5, so [0, 0.5, 1, 1]
    const b = batch(1, 2, 2, 1, (i) => i % 2);
    const x = preprocess(b, { sizePx: 4, channels: 1, range: [0, 1] });
    assert.ok(near(x.dataSync().subarray(0, 4), [0, 0.5, 1, 1]));
    x.dispose();
  });

  it('leaves no intermediate tensors behind', () => {
    const before = tf.memory().numTensors;
    const x = preprocess(
      batch(2, 6, 6, 1, () => 0.5),
      { sizePx: 3, channels: 3, range: [-1, 1] },
    );
    assert.equal(tf.memory().numTensors, before + 1);
    x.dispose();
  });

  it('rejects inconsistent batches and specs', () => {
    const b = batch(1, 2, 2, 1, () => 0);
    assert.throws(() => preprocess({ ...b, shape: [1, 3, 3, 1] }, { sizePx: 2, channels: 1, range: [0, 1] }), RangeError);
    assert.throws(() => preprocess(b, { sizePx: 0, channels: 1, range: [0, 1] }), RangeError);
    assert.throws(() => preprocess(b, { sizePx: 2, channels: 1, range: [1, 1] }), RangeError);
  });
});

describe('preprocessId', () => {
  it('is stable and distinguishes every field', () => {
    const base = { sizePx: 224, channels: 3, range: [-1, 1] } as const;
    const id = preprocessId({ ...base, range: [-1, 1] });
    assert.equal(id, preprocessId({ sizePx: 224, channels: 3, range: [-1, 1] }));
    const others = [
      preprocessId({ ...base, sizePx: 96, range: [-1, 1] }),
      preprocessId({ ...base, channels: 1, range: [-1, 1] }),
      preprocessId({ ...base, range: [0, 1] }),
    ];
    assert.equal(new Set([id, ...others]).size, 4);
  });
});
