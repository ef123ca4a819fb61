import { describe, it } from 'node:test';
import { assertClose, convCases, forwardShape, randomValues, runKernelOn, seeded } from './kernel-testing';

const KERNEL = 'Conv2DBackpropInput';

describe('Conv2DBackpropInput on wasm (replacing the backend scalar loop)', () => {
  // tfjs's conv2d gradient never passes dilations to this kernel: undilated cases only
  convCases(21, false)
    .filter((c) => c.dilations === 1)
    .forEach((c, i) => {
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
