import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batches, epochOrder } from './epoch-order';

const ids = Array.from({ length: 100 }, (_, i) => i * 3);

describe('epochOrder', () => {
  it('is a permutation of the input and leaves the input alone', () => {
    const copy = [...ids];
    const order = epochOrder(ids, 5, 0);
    assert.deepEqual(ids, copy);
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      ids,
    );
    assert.notDeepEqual(order, ids);
  });

  it('is deterministic per (seed, epoch) and differs across epochs and seeds', () => {
    assert.deepEqual(epochOrder(ids, 5, 3), epochOrder(ids, 5, 3));
    const seen = new Set([0, 1, 2, 3].map((e) => epochOrder(ids, 5, e).join()));
    assert.equal(seen.size, 4);
    assert.notDeepEqual(epochOrder(ids, 5, 0), epochOrder(ids, 6, 0));
  });

  it('handles empty and single-element inputs', () => {
    assert.deepEqual(epochOrder([], 1, 0), []);
    assert.deepEqual(epochOrder([7], 1, 0), [7]);
  });
});

describe('batches', () => {
  it('chunks with a smaller last batch', () => {
    assert.deepEqual(batches([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(batches([1, 2, 3, 4], 2), [
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(batches([], 4), []);
  });

  it('rejects non-positive sizes', () => {
    assert.throws(() => batches([1], 0), RangeError);
    assert.throws(() => batches([1], 1.5), RangeError);
  });
});
