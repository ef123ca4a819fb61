import { describe, it } from 'node:test';
import { assertClose, type ConvCase, convCases, forwardShape, randomValues, runKernelOn, seeded } from './kernel-testing';

const KERNEL = 'Conv2DBackpropInput';

describe('Conv2DBackpropInput on wasm (replacing the backend scalar loop)', () => {
  // tfjs's conv2d gradient never passes dilations to this kernel: undilated cases only
  // the strided path by phases (stride-phase-input.ts): strides 2 and 3, taps fewer than and
  // more than the stride, odd and even sizes, asymmetric explicit padding, a resnet-small layer
  const phased = (xShape: ConvCase['xShape'], filterShape: ConvCase['filterShape'], strides: number, pad: ConvCase['pad']): ConvCase => ({
    label: `x [${xShape}] filter [${filterShape}] stride ${strides} pad ${JSON.stringify(pad)}`,
    xShape,
    filterShape,
    strides,
    dilations: 1,
    pad,
  });
  const strided = [
    phased([2, 9, 8, 3], [3, 3, 3, 4], 3, 'same'),
    phased([1, 11, 10, 2], [5, 5, 2, 3], 2, 'valid'),
    phased([2, 7, 9, 3], [2, 2, 3, 2], 3, 'valid'),
    phased([1, 8, 8, 2], [5, 3, 2, 2], 2, [
      [0, 0],
      [3, 0],
      [1, 2],
      [0, 0],
    ]),
    phased([2, 28, 28, 16], [3, 3, 16, 32], 2, 'same'),
  ];
  [...convCases(21, false).filter((c) => c.dilations === 1), ...strided].forEach((c, i) => {
    it(`matches the cpu backend: ${c.label}`, async () => {
      const rand = seeded(500 + i);
      const dyShape = forwardShape(c.xShape, c.filterShape, c.strides, 1, c.pad, false, c.dimRoundingMode);
      const dy = { values: randomValues(rand, dyShape), shape: dyShape };
      const filter = { values: randomValues(rand, c.filterShape), shape: c.filterShape };
      const attrs = { strides: c.strides, pad: c.pad, dimRoundingMode: c.dimRoundingMode, inputShape: c.xShape, dataFormat: 'NHWC' };
      const actual = await runKernelOn('wasm', KERNEL, { dy, filter }, attrs);
      const expected = await runKernelOn('cpu', KERNEL, { dy, filter }, attrs);
      assertClose(actual, expected, 1e-4, c.label);
    });
  });
});
