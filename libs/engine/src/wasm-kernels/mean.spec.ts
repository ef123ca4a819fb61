import { describe, it } from 'node:test';
import { assertClose, randomValues, runKernelOn, seeded } from './kernel-testing';

describe('Mean on wasm (global average pools through XNNPACK)', () => {
  // [shape, axis, keepDims]: spatial means (rewritten), and reductions left to the backend
  const cases: [number[], number | number[], boolean][] = [
    [[4, 3, 3, 16], [1, 2], false],
    [[2, 5, 7, 3], [2, 1], true],
    [[3, 1, 1, 8], [-3, -2], false],
    [[4, 3, 3, 16], [1], false],
    [[4, 3, 3, 16], [1, 2, 3], false],
    [[6, 10], 1, false],
  ];
  cases.forEach(([shape, axis, keepDims], i) => {
    it(`equals the cpu backend: [${shape}] over ${JSON.stringify(axis)}${keepDims ? ', keepDims' : ''}`, async () => {
      const x = { values: randomValues(seeded(110 + i), shape), shape };
      const actual = await runKernelOn('wasm', 'Mean', { x }, { axis, keepDims });
      const expected = await runKernelOn('cpu', 'Mean', { x }, { axis, keepDims });
      assertClose(actual, expected, 1e-5, 'Mean');
    });
  });
});
