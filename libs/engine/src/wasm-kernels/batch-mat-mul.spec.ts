import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertClose, randomValues, runKernelOn, seeded } from './kernel-testing';

describe('BatchMatMul on wasm (transposed forms rewritten around the backend kernel)', () => {
  // [a shape, b shape, transposeA, transposeB]: the dense-gradient shapes, both forms' winners,
  // a rank-3 product of batch 1, and a batched one (left to the backend kernel)
  const cases: [number[], number[], boolean, boolean][] = [
    [[6, 40], [40, 5], false, false],
    [[6, 5], [40, 5], false, true],
    [[6, 40], [6, 5], true, false],
    [[40, 6], [5, 40], true, true],
    [[3, 50], [7, 50], false, true],
    [[50, 3], [50, 7], true, false],
    [[1, 6, 5], [1, 40, 5], false, true],
    [[2, 6, 9], [2, 4, 9], false, true],
  ];
  cases.forEach(([aShape, bShape, transposeA, transposeB], i) => {
    it(`equals the cpu backend: [${aShape}]${transposeA ? '^T' : ''} x [${bShape}]${transposeB ? '^T' : ''}`, async () => {
      const a = { values: randomValues(seeded(70 + i), aShape), shape: aShape };
      const b = { values: randomValues(seeded(90 + i), bShape), shape: bShape };
      const actual = await runKernelOn('wasm', 'BatchMatMul', { a, b }, { transposeA, transposeB });
      const expected = await runKernelOn('cpu', 'BatchMatMul', { a, b }, { transposeA, transposeB });
      assertClose(actual, expected, 1e-5, 'BatchMatMul');
    });
  });

  it('refuses mismatched inner shapes with tfjs message', async () => {
    const a = { values: new Float32Array(6), shape: [2, 3] };
    const b = { values: new Float32Array(8), shape: [2, 4] };
    await assert.rejects(runKernelOn('wasm', 'BatchMatMul', { a, b }, { transposeA: false, transposeB: true }), /inner shapes/);
  });
});
