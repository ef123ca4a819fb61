import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { augmentBatch, augmentId, drawTransform, epochKey, pickView, type SampleTransform, viewKey } from './augment';
import type { RawBatch } from './dataset';

const standard = { crop: 4, flip: true, brightness: 0.1, contrast: 0.1 };
const none = { crop: 0, flip: false, brightness: 0, contrast: 0 };

/** n images of 6x5x2 with distinct values in (0, 1) */
function batch(n: number): RawBatch {
  const pixels = Float32Array.from({ length: n * 60 }, (_, i) => ((i * 37) % 101) / 101 + 0.001);
  return { ids: Array.from({ length: n }, (_, i) => i), labels: new Int32Array(n), pixels, shape: [n, 6, 5, 2] };
}

const identity: SampleTransform = { dx: 0, dy: 0, flip: false, offset: 0, factor: 1 };
const at = (b: RawBatch, y: number, x: number, k: number) => b.pixels[(y * 5 + x) * 2 + k];

describe('augmentation', () => {
  it('is the same for the same (seed, epoch, sample) and differs across epochs, samples and seeds', () => {
    const t = (seed: number, epoch: number, sample: number) => drawTransform(standard, epochKey(seed, epoch, sample));
    assert.deepEqual(t(42, 3, 17), t(42, 3, 17));
    const b = batch(1);
    const px = (tr: SampleTransform) => Array.from(augmentBatch(b, [tr]).pixels);
    assert.deepEqual(px(t(42, 3, 17)), px(t(42, 3, 17)));
    for (const other of [t(42, 4, 17), t(42, 3, 18), t(43, 3, 17)]) assert.notDeepEqual(other, t(42, 3, 17));
    const epochs = new Set(Array.from({ length: 8 }, (_, e) => JSON.stringify(px(t(42, e + 1, 17)))));
    assert.ok(epochs.size >= 7, `8 epochs gave ${epochs.size} different images`);
  });

  it('draws views independent of the epoch, and visits every view once in each cycle of epochs', () => {
    assert.deepEqual(drawTransform(standard, viewKey(42, 1, 5)), drawTransform(standard, viewKey(42, 1, 5)));
    assert.notDeepEqual(drawTransform(standard, viewKey(42, 0, 5)), drawTransform(standard, viewKey(42, 1, 5)));
    const orders = new Set<string>();
    for (let sample = 0; sample < 20; sample++) {
      const picks = Array.from({ length: 9 }, (_, e) => pickView(42, e + 1, sample, 3));
      for (let c = 0; c < 3; c++) assert.deepEqual([...picks.slice(3 * c, 3 * c + 3)].sort(), [0, 1, 2], `sample ${sample} cycle ${c}`);
      assert.deepEqual(
        picks,
        Array.from({ length: 9 }, (_, e) => pickView(42, e + 1, sample, 3)),
      );
      orders.add(picks.join(''));
    }
    assert.ok(orders.size > 5, 'orders differ between samples and cycles');
    assert.equal(pickView(42, 7, 3, 1), 0);
  });

  it('keeps its draws within the spec, and a spec of nothing is the identity', () => {
    for (let s = 0; s < 200; s++) {
      const t = drawTransform(standard, epochKey(1, 1, s));
      assert.ok(Math.abs(t.dx) <= 4 && Math.abs(t.dy) <= 4 && Number.isInteger(t.dx));
      assert.ok(Math.abs(t.offset) <= 0.1 && Math.abs(t.factor - 1) <= 0.1);
      assert.deepEqual(drawTransform(none, epochKey(1, 1, s)), identity);
    }
    const b = batch(2);
    assert.deepEqual(augmentBatch(b, [identity, identity]).pixels, b.pixels);
  });

  it('shifts with zero fill, flips, and jitters within [0, 1]', () => {
    const b = batch(1);
    const shifted = augmentBatch(b, [{ ...identity, dx: 2, dy: -1 }]);
    assert.equal(at(shifted, 0, 2, 1), at(b, 1, 0, 1));
    assert.equal(at(shifted, 4, 4, 0), at(b, 5, 2, 0));
    assert.equal(at(shifted, 5, 3, 0), 0, 'the padding shows at the bottom');
    assert.equal(at(shifted, 2, 1, 0), 0, 'and at the left');
    const flipped = augmentBatch(b, [{ ...identity, flip: true }]);
    assert.equal(at(flipped, 3, 0, 1), at(b, 3, 4, 1));
    assert.equal(at(flipped, 3, 4, 0), at(b, 3, 0, 0));
    const bright = augmentBatch(b, [{ ...identity, offset: 0.5, factor: 1.5 }]);
    assert.ok(bright.pixels.every((v) => v >= 0 && v <= 1));
    assert.ok(bright.pixels.some((v) => v === 1));
    assert.deepEqual(b.pixels, batch(1).pixels, 'the input is left as it was');
  });

  it('names its numerics', () => {
    assert.equal(augmentId(standard), 'aug1:crop4:flip1:b0.1:c0.1');
    assert.notEqual(augmentId(standard), augmentId({ ...standard, crop: 2 }));
  });
});
