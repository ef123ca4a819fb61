import { describe, it } from 'node:test';
import { assertClose, convCases, forwardShape, randomValues, runKernelOn, seeded, spreadFilter } from './kernel-testing';

const KERNEL = 'DepthwiseConv2dNativeBackpropInput';

describe('DepthwiseConv2dNativeBackpropInput on wasm', () => {
  convCases(13, true).forEach((c, i) => {
    it(`matches the cpu backend: ${c.label}`, async () => {
      const rand = seeded(300 + i);
      const dyShape = forwardShape(c.xShape, c.filterShape, c.strides, c.dilations, c.pad, true, c.dimRoundingMode);
      const dy = { values: randomValues(rand, dyShape), shape: dyShape };
      const filter = { values: randomValues(rand, c.filterShape), shape: c.filterShape };
      const attrs = { strides: c.strides, pad: c.pad, dimRoundingMode: c.dimRoundingMode, inputShape: c.xShape };
      const actual = await runKernelOn('wasm', KERNEL, { dy, filter }, { ...attrs, dilations: c.dilations });
      // The cpu kernel ignores dilations: give it the spread filter instead (see kernel-testing).
      const expected = await runKernelOn('cpu', KERNEL, { dy, filter: spreadFilter(filter, c.dilations) }, { ...attrs, dilations: 1 });
      assertClose(actual, expected, 1e-4, c.label);
    });
  });
});
