import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../backend';
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

const KERNEL = 'Conv2DBackpropFilter';

function attrsOf(c: ConvCase, filterShape: number[]): Record<string, unknown> {
  return { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: c.dimRoundingMode, filterShape };
}

/** The cpu backend's answer; for a dilated case, through the spread filter (see kernel-testing). */
async function reference(c: ConvCase, x: Data, dy: Data): Promise<Data> {
  if (c.dilations === 1) return runKernelOn('cpu', KERNEL, { x, dy }, attrsOf(c, c.filterShape));
  const [kh, kw] = c.filterShape;
  const spreadShape = spreadFilter(
    { values: new Float32Array(tf.util.sizeFromShape(c.filterShape)), shape: c.filterShape },
    c.dilations,
  ).shape;
  const spread = await runKernelOn('cpu', KERNEL, { x, dy }, attrsOf(c, spreadShape));
  return sampleFilter(spread, c.dilations, kh, kw);
}

describe('Conv2DBackpropFilter on wasm', () => {
  convCases(11, false).forEach((c, i) => {
    it(`matches the cpu backend: ${c.label}`, async () => {
      const rand = seeded(100 + i);
      const dyShape = forwardShape(c.xShape, c.filterShape, c.strides, c.dilations, c.pad, false, c.dimRoundingMode);
      const x = { values: randomValues(rand, c.xShape), shape: c.xShape };
      const dy = { values: randomValues(rand, dyShape), shape: dyShape };
      const actual = await runKernelOn('wasm', KERNEL, { x, dy }, { ...attrsOf(c, c.filterShape), dilations: c.dilations });
      assertClose(actual, await reference(c, x, dy), 1e-4, c.label);
    });
  });

  for (const [cin, cout] of [
    [5, 2],
    [2, 5],
  ] as const) {
    it(`matches the cpu backend for a 1x1 filter with ${cin} -> ${cout} channels (either MatMul orientation)`, async () => {
      const rand = seeded(cin * 10 + cout);
      const x = { values: randomValues(rand, [2, 3, 4, cin]), shape: [2, 3, 4, cin] };
      const dy = { values: randomValues(rand, [2, 3, 4, cout]), shape: [2, 3, 4, cout] };
      const attrs = { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [1, 1, cin, cout] };
      assertClose(await runKernelOn('wasm', KERNEL, { x, dy }, attrs), await runKernelOn('cpu', KERNEL, { x, dy }, attrs), 1e-4, '1x1');
    });
  }

  it('takes one MatMul for a 1x1 stride-1 filter and one Conv2D otherwise', async () => {
    await initEngine('wasm');
    const x = tf.ones([2, 4, 5, 3]);
    const kernelsOf = async (filterShape: number[], dy: tf.Tensor) => {
      const p = await tf.profile(() =>
        tf.engine().runKernel(KERNEL, { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape }),
      );
      tf.dispose([p.result as tf.Tensor, dy]);
      return p.kernelNames;
    };
    const pointwise = await kernelsOf([1, 1, 3, 6], tf.ones([2, 4, 5, 6]));
    assert.ok(pointwise.includes('BatchMatMul') && !pointwise.includes('Conv2D'), pointwise.join());
    const general = await kernelsOf([3, 3, 3, 6], tf.ones([2, 4, 5, 6]));
    assert.ok(general.includes('Conv2D') && !general.includes('BatchMatMul'), general.join());
    x.dispose();
  });

  it('refuses NCHW with a clear error', async () => {
    await initEngine('wasm');
    const x = tf.ones([1, 3, 4, 4]);
    const dy = tf.ones([1, 3, 4, 4]);
    assert.throws(
      () => tf.engine().runKernel(KERNEL, { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [1, 1, 3, 3] }),
      /Conv2DBackpropFilter on the wasm backend supports only dataFormat 'NHWC' \(channelsLast\), got 'NCHW'/,
    );
    tf.dispose([x, dy]);
  });

  it('refuses a dy whose shape is not the convolution output', async () => {
    await initEngine('wasm');
    const x = tf.ones([1, 6, 6, 2]);
    const dy = tf.ones([1, 6, 6, 4]);
    assert.throws(
      () => tf.engine().runKernel(KERNEL, { x, dy }, { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 4] }),
      /dy has shape \[1,6,6,4\] but the convolution .* gives \[1,3,3,4\]/,
    );
    tf.dispose([x, dy]);
  });
});
