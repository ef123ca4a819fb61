import { describe, it } from 'node:test';
import { assertClose, type Data, randomValues, runKernelOn, seeded } from './kernel-testing';

function data(seed: number, shape: number[], lo = -1, hi = 1): Data {
  const values = randomValues(seeded(seed), shape).map((v) => lo + ((v + 1) / 2) * (hi - lo));
  return { values, shape };
}

describe('FusedBatchNorm on wasm (an XNNPACK depthwise 1x1 convolution)', () => {
  // [x shape, statistics shape]: per-channel statistics of NHWC (rewritten), and others the backend keeps
  const cases: [number[], number[]][] = [
    [[2, 5, 4, 7], [7]],
    [[1, 1, 1, 32], [32]],
    [
      [3, 2, 2, 3],
      [1, 1, 1, 3],
    ],
    [[4, 6], [6]],
  ];
  cases.forEach(([shape, stat], i) => {
    it(`equals the cpu backend: x [${shape}], statistics [${stat}]`, async () => {
      const inputs = {
        x: data(800 + i, shape, -3, 3),
        mean: data(810 + i, stat),
        variance: data(820 + i, stat, 0.01, 2),
        offset: data(830 + i, stat),
        scale: data(840 + i, stat),
      };
      const actual = await runKernelOn('wasm', 'FusedBatchNorm', inputs, { varianceEpsilon: 1e-3 });
      const expected = await runKernelOn('cpu', 'FusedBatchNorm', inputs, { varianceEpsilon: 1e-3 });
      assertClose(actual, expected, 1e-5, 'FusedBatchNorm');
    });
  });
});
