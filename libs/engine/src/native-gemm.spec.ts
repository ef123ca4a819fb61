import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from './backend';
import { type NativeGemm, nativeGemm, nativeGemmInfo } from './native-gemm';
import { fusedWasmKernels, useFusedWasmKernels } from './wasm-kernels/fused-switch';
import { assertClose, type Data, randomValues, runKernelOn, seeded } from './wasm-kernels/kernel-testing';
import { nativeBatchMatMul, recordingGradients } from './wasm-kernels/native-matmul';
import { pointwiseProduct } from './wasm-kernels/pointwise-conv';

const data = (seed: number, shape: number[]): Data => ({ values: randomValues(seeded(seed), shape), shape });

/** OpenBLAS is open here; else the spec skips, or fails under PERMAFROST_REQUIRE_TOOLS=1 (CI). */
function requireNative(t: { skip(message: string): void }): NativeGemm | undefined {
  const gemm = nativeGemm();
  if (gemm) return gemm;
  const why = nativeGemmInfo().unavailable ?? 'switched off';
  if (process.env.PERMAFROST_REQUIRE_TOOLS === '1') assert.fail(`no native GEMM: ${why}`);
  t.skip(why);
  return undefined;
}

/** Runs a kernel on wasm while a gradient tape records, as a training step's forward pass does. */
async function runRecorded(kernel: string, inputs: Record<string, Data>, attrs: Record<string, unknown>): Promise<Data> {
  await initEngine('wasm');
  const v = tf.variable(tf.scalar(1));
  const tensors = Object.fromEntries(Object.entries(inputs).map(([k, d]) => [k, tf.tensor(d.values, d.shape, 'float32')]));
  let y: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    y = tf.keep(tf.engine().runKernel(kernel, tensors, attrs as tf.NamedAttrMap) as tf.Tensor);
    return tf.square(v);
  }, [v]);
  const out = y as tf.Tensor;
  const result = { values: (await out.data()) as Float32Array, shape: out.shape };
  tf.dispose([out, v, value, ...Object.values(grads), ...Object.values(tensors)]);
  return result;
}

// [label, kernel, inputs, attrs]: the products OpenBLAS takes (transposed forms batched and
// broadcast, dense layers, 1x1 convs and their gradients) and forms it leaves to XNNPACK.
// _FusedMatMul's operands are rank 3, as tf.fused.matMul hands them to the kernel; the backend's
// own _FusedMatMul is wrong with a transposed operand (about 0.15 relative), so that case is
// checked on OpenBLAS only.
const cases: [string, string, Record<string, Data>, Record<string, unknown>][] = [
  ['no flag', 'BatchMatMul', { a: data(1, [6, 40]), b: data(2, [40, 5]) }, { transposeA: false, transposeB: false }],
  ['A^T', 'BatchMatMul', { a: data(3, [40, 6]), b: data(4, [40, 5]) }, { transposeA: true, transposeB: false }],
  ['B^T', 'BatchMatMul', { a: data(5, [6, 40]), b: data(6, [5, 40]) }, { transposeA: false, transposeB: true }],
  ['A^T B^T', 'BatchMatMul', { a: data(7, [40, 6]), b: data(8, [5, 40]) }, { transposeA: true, transposeB: true }],
  ['batched B^T', 'BatchMatMul', { a: data(9, [2, 3, 6, 9]), b: data(10, [2, 3, 4, 9]) }, { transposeA: false, transposeB: true }],
  ['broadcast right', 'BatchMatMul', { a: data(11, [3, 6, 9]), b: data(12, [9, 4]) }, { transposeA: false, transposeB: false }],
  ['broadcast left A^T', 'BatchMatMul', { a: data(13, [1, 9, 6]), b: data(14, [3, 9, 4]) }, { transposeA: true, transposeB: false }],
  [
    'dense relu6',
    '_FusedMatMul',
    { a: data(15, [1, 6, 40]), b: data(16, [1, 40, 5]), bias: data(17, [5]) },
    { transposeA: false, transposeB: false, activation: 'relu6' },
  ],
  [
    'dense leakyrelu',
    '_FusedMatMul',
    { a: data(37, [1, 6, 40]), b: data(38, [1, 40, 5]), bias: data(39, [5]) },
    { transposeA: false, transposeB: false, activation: 'leakyrelu', leakyreluAlpha: 0.3 },
  ],
  [
    'dense B^T relu (OpenBLAS only)',
    '_FusedMatMul',
    { a: data(18, [1, 6, 40]), b: data(19, [1, 5, 40]), bias: data(20, [5]) },
    { transposeA: false, transposeB: true, activation: 'relu' },
  ],
  [
    'dense sigmoid (backend)',
    '_FusedMatMul',
    { a: data(21, [1, 6, 40]), b: data(22, [1, 40, 5]) },
    { transposeA: false, transposeB: false, activation: 'sigmoid' },
  ],
  [
    '1x1 same',
    'Conv2D',
    { x: data(23, [2, 5, 4, 12]), filter: data(24, [1, 1, 12, 7]) },
    { strides: 1, pad: 'same', dilations: 1, dataFormat: 'NHWC' },
  ],
  [
    '1x1 relu bias',
    'FusedConv2D',
    { x: data(25, [2, 5, 4, 12]), filter: data(26, [1, 1, 12, 7]), bias: data(27, [7]) },
    { strides: [1, 1], pad: 'valid', dilations: 1, dataFormat: 'NHWC', activation: 'relu' },
  ],
  [
    '1x1 stride 2 (backend)',
    'Conv2D',
    { x: data(28, [2, 5, 4, 12]), filter: data(29, [1, 1, 12, 7]) },
    { strides: 2, pad: 'same', dilations: 1, dataFormat: 'NHWC' },
  ],
  [
    '3x3 (backend)',
    'FusedConv2D',
    { x: data(30, [2, 5, 4, 3]), filter: data(31, [3, 3, 3, 4]), bias: data(32, [4]) },
    { strides: 1, pad: 'same', dilations: 1, dataFormat: 'NHWC', activation: 'relu6' },
  ],
  [
    '1x1 filter gradient',
    'Conv2DBackpropFilter',
    { x: data(33, [2, 5, 4, 12]), dy: data(34, [2, 5, 4, 7]) },
    { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [1, 1, 12, 7] },
  ],
  [
    '1x1 input gradient',
    'Conv2DBackpropInput',
    { dy: data(35, [2, 5, 4, 7]), filter: data(36, [1, 1, 12, 7]) },
    { strides: 1, pad: 'valid', dataFormat: 'NHWC', inputShape: [2, 5, 4, 12] },
  ],
];

describe('matrix products on OpenBLAS (native-gemm)', () => {
  before(async () => {
    await initEngine('wasm');
  });
  after(() => useFusedWasmKernels(true));

  // OpenBLAS in a training step (a tape records), XNNPACK with the switch off
  for (const side of ['OpenBLAS', 'XNNPACK'] as const) {
    for (const [label, kernel, inputs, attrs] of cases) {
      if (side === 'XNNPACK' && label.includes('OpenBLAS only')) continue;
      it(`${side}: ${kernel} ${label} equals the cpu backend`, async (t) => {
        if (label.includes('OpenBLAS only') && !requireNative(t)) return;
        useFusedWasmKernels(side === 'OpenBLAS');
        const actual = await runRecorded(kernel, inputs, attrs);
        useFusedWasmKernels(true);
        const expected = await runKernelOn('cpu', kernel, inputs, attrs);
        assertClose(actual, expected, 1e-5, `${kernel} ${label}`);
      });
    }
  }

  it('takes transposed products always, forward products only while a tape records', async (t) => {
    if (!requireNative(t)) return;
    await initEngine('wasm');
    const [a, b, x, f1, f3] = [tf.ones([4, 6]), tf.ones([4, 3]), tf.ones([1, 5, 5, 4]), tf.ones([1, 1, 4, 3]), tf.ones([3, 3, 4, 3])];
    const backend = tf.backend();
    const taken = (out: tf.TensorInfo | undefined) => {
      if (out) tf.engine().makeTensorFromTensorInfo(out).dispose();
      return out !== undefined;
    };
    const conv = (filter: tf.Tensor, strides: number, activation?: string) =>
      pointwiseProduct({
        inputs: { x, filter },
        backend,
        attrs: { strides, pad: 'same', dilations: 1, dataFormat: 'NHWC', activation } as unknown as tf.NamedAttrMap,
      });
    const decisions = () => ({
      transposed: taken(nativeBatchMatMul(backend, a, b, { transposeA: true, transposeB: false })),
      forward: taken(nativeBatchMatMul(backend, tf.transpose(a), b, { transposeA: false, transposeB: false })),
      pointwise: taken(conv(f1, 1, 'relu6')),
      others: [taken(conv(f1, 2)), taken(conv(f3, 1)), taken(conv(f1, 1, 'prelu'))],
    });
    assert.equal(recordingGradients(), false);
    assert.deepEqual(decisions(), { transposed: true, forward: false, pointwise: false, others: [false, false, false] });
    const v = tf.variable(tf.scalar(1));
    let inside: ReturnType<typeof decisions> | undefined;
    const r = tf.variableGrads(() => {
      inside = decisions();
      return tf.square(v);
    }, [v]);
    assert.deepEqual(inside, { transposed: true, forward: true, pointwise: true, others: [false, false, false] });
    useFusedWasmKernels(false);
    assert.equal(taken(nativeBatchMatMul(backend, a, b, { transposeA: true, transposeB: false })), false, 'the switch off');
    useFusedWasmKernels(true);
    tf.dispose([a, b, x, f1, f3, v, r.value, ...Object.values(r.grads)]);
  });

  it('keeps forward products batch-invariant: a sample gives the same bits in any batch', async (t) => {
    if (!requireNative(t)) return;
    await initEngine('wasm');
    const x = tf.tensor(randomValues(seeded(40), [50, 300]), [50, 300]);
    const w = tf.tensor(randomValues(seeded(41), [300, 24]), [300, 24]);
    const all = (await tf.matMul(x, w).data()) as Float32Array;
    for (const [begin, rows] of [
      [0, 1],
      [3, 8],
      [17, 33],
    ] as const) {
      const part = (await tf.matMul(tf.slice(x, [begin, 0], [rows, 300]), w).data()) as Float32Array;
      assert.deepEqual(part, all.subarray(begin * 24, (begin + rows) * 24), `rows ${begin}..${begin + rows}`);
    }
    tf.dispose([x, w]);
  });

  it('refuses operands shorter than their shapes instead of reading past them', (t) => {
    const gemm = requireNative(t);
    if (!gemm) return;
    const short = new Float32Array(10);
    assert.throws(
      () => gemm.gemm(false, false, 4, 4, 4, short, new Float32Array(16), new Float32Array(16), 1, 0, 0),
      /shorter than its shape/,
    );
    assert.throws(
      () => gemm.gemm(false, false, 2, 2, 2, new Float32Array(4), new Float32Array(4), new Float32Array(4), 2, 4, 0),
      /shorter than its shape/,
    );
    assert.ok(fusedWasmKernels());
  });
});
