import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contiguousRuns } from './contiguous-runs';

describe('contiguousRuns', () => {
  it('merges ascending neighbours and records output positions', () => {
    assert.deepEqual(contiguousRuns([4, 5, 6, 9, 2, 3]), [
      { first: 4, count: 3, at: 0 },
      { first: 9, count: 1, at: 3 },
      { first: 2, count: 2, at: 4 },
    ]);
    assert.deepEqual(contiguousRuns([]), []);
  });

  it('splits at maxCount and at group boundaries', () => {
    assert.deepEqual(
      contiguousRuns([0, 1, 2, 3, 4], 2).map((r) => r.count),
      [2, 2, 1],
    );
    assert.deepEqual(
      contiguousRuns([0, 1, 2, 3], Number.POSITIVE_INFINITY, (id) => (id < 2 ? 0 : 1)).map((r) => [r.first, r.count]),
      [
        [0, 2],
        [2, 2],
      ],
    );
  });
});
