import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import {
  assertClose,
  type ConvCase,
  convCases,
  type Data,
  forwardShape,
  randomValues,
  runKernelOn,
  sampleFilter,
  seeded,
  spreadFilter,
} from './kernel-testing';

const KERNEL = 'DepthwiseConv2dNativeBackpropFilter';

function attrsOf(c: ConvCase, filterShape: number[], dilations: number): Record<string, unknown> {
  return { strides: c.strides, pad: c.pad, dilations, dimRoundingMode: c.dimRoundingMode, filterShape };
}

/** The cpu backend's answer; for a dilated case, through the spread filter (see kernel-testing). */
async function reference(c: ConvCase, x: Data, dy: Data): Promise<Data> {
  if (c.dilations === 1) return runKernelOn('cpu', KERNEL, { x, dy }, attrsOf(c, c.filterShape, 1));
  const [kh, kw] = c.filterShape;
  const spreadShape = spreadFilter(
    { values: new Float32Array(tf.util.sizeFromShape(c.filterShape)), shape: c.filterShape },
    c.dilations,
  ).shape;
  const spread = await runKernelOn('cpu', KERNEL, { x, dy }, attrsOf(c, spreadShape, 1));
  return sampleFilter(spread, c.dilations, kh, kw);
}

describe('DepthwiseConv2dNativeBackpropFilter on wasm', () => {
  convCases(12, true).forEach((c, i) => {
    it(`matches the cpu backend: ${c.label}`, async () => {
      const rand = seeded(200 + i);
      const dyShape = forwardShape(c.xShape, c.filterShape, c.strides, c.dilations, c.pad, true, c.dimRoundingMode);
      const x = { values: randomValues(rand, c.xShape), shape: c.xShape };
      const dy = { values: randomValues(rand, dyShape), shape: dyShape };
      const actual = await runKernelOn('wasm', KERNEL, { x, dy }, attrsOf(c, c.filterShape, c.dilations));
      assertClose(actual, await reference(c, x, dy), 1e-4, c.label);
    });
  });
});
