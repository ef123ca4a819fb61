import { describe, it } from 'node:test';
import { assertClose, randomValues, runKernelOn, seeded } from './kernel-testing';

describe('Sum and Mean over every axis but the last on wasm (an XNNPACK average pool)', () => {
  // [shape, axis, keepDims]: per-channel reductions (rewritten), and others the backend keeps
  const cases: [number[], number | number[], boolean][] = [
    [[4, 3, 3, 16], [0, 1, 2], false],
    [[2, 5, 7, 3], [2, 0, 1], true],
    [[6, 10], 0, false],
    [[6, 10], [-2], true],
    [[4, 3, 3, 16], [0, 1], false],
    [[4, 3, 3, 16], [1, 2, 3], false],
  ];
  for (const kernel of ['Sum', 'Mean']) {
    cases.forEach(([shape, axis, keepDims], i) => {
      it(`${kernel} equals the cpu backend: [${shape}] over ${JSON.stringify(axis)}${keepDims ? ', keepDims' : ''}`, async () => {
        const x = { values: randomValues(seeded(900 + i), shape), shape };
        const actual = await runKernelOn('wasm', kernel, { x }, { axis, keepDims });
        const expected = await runKernelOn('cpu', kernel, { x }, { axis, keepDims });
        assertClose(actual, expected, 1e-5, kernel);
      });
    });
  }
});
