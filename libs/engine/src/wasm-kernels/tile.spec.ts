import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomValues, runKernelOn, seeded } from './kernel-testing';

describe('Tile on wasm (replacing the backend element loop)', () => {
  const cases: [number[], number[]][] = [
    [
      [1, 1, 1, 5],
      [4, 3, 3, 1],
    ],
    [
      [2, 3],
      [2, 2],
    ],
    [[3], [4]],
    [
      [2, 1, 3],
      [1, 4, 2],
    ],
    [
      [1, 2, 1, 2],
      [3, 1, 2, 2],
    ],
    [
      [2, 2],
      [1, 1],
    ],
  ];
  cases.forEach(([shape, reps], i) => {
    it(`equals the cpu backend: [${shape}] by [${reps}]`, async () => {
      const x = { values: randomValues(seeded(40 + i), shape), shape };
      const actual = await runKernelOn('wasm', 'Tile', { x }, { reps });
      const expected = await runKernelOn('cpu', 'Tile', { x }, { reps });
      assert.deepEqual(actual.shape, expected.shape);
      assert.deepEqual(Array.from(actual.values), Array.from(expected.values));
    });
  });
});
