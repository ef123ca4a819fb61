import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle registers no gradients; tfjs-layers's does, on import (as in the trainer).
import '@tensorflow/tfjs-layers';
import { initEngine } from '../backend';
import { useFusedWasmKernels } from './fused-switch';
import { copyOf } from './identity';

const buffers = () => tf.engine().backend.numDataIds();

describe('Identity on wasm (shares the buffer)', () => {
  it('a clone shares its input buffer and outlives the input; int32 and bool too', async () => {
    await initEngine('wasm');
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const x = tf.tensor([1, 0, 3, 4, 0, 6], [2, 3], dtype);
      const before = buffers();
      const y = tf.clone(x);
      assert.equal(buffers(), before, `${dtype}: no new buffer`);
      x.dispose();
      assert.deepEqual(y.shape, [2, 3]);
      assert.equal(y.dtype, dtype);
      assert.deepEqual(Array.from(await y.data()), dtype === 'bool' ? [1, 0, 1, 1, 0, 1] : [1, 0, 3, 4, 0, 6]);
      y.dispose();
      assert.equal(buffers(), before - 1, `${dtype}: the buffer is freed with its last tensor`);
    }
  });

  it('copyOf, and a clone with the fused kernels off, copy into a new buffer', async () => {
    await initEngine('wasm');
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const before = buffers();
    const c = copyOf(x);
    assert.equal(buffers(), before + 1);
    useFusedWasmKernels(false);
    const d = tf.clone(x);
    useFusedWasmKernels(true);
    assert.equal(buffers(), before + 2);
    assert.deepEqual(Array.from(await c.data()), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(await d.data()), [1, 2, 3, 4]);
    tf.dispose([x, c, d]);
  });

  it("the tape's saved tensors stay intact through a gradient (values equal the cpu backend's)", async () => {
    const run = async (backend: 'wasm' | 'cpu') => {
      await initEngine(backend);
      const x = tf.tensor4d(
        Array.from({ length: 2 * 3 * 3 * 4 }, (_, i) => Math.sin(i)),
        [2, 3, 3, 4],
      );
      const w = tf.tensor4d(
        Array.from({ length: 4 * 5 }, (_, i) => Math.cos(i)),
        [1, 1, 4, 5],
      );
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.relu6(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')))),
      );
      const out = g([x, w]);
      const values = await Promise.all(out.map((t) => t.data()));
      tf.dispose([...out, x, w]);
      return values;
    };
    const wasm = await run('wasm');
    const cpu = await run('cpu');
    wasm.forEach((v, i) => {
      const c = cpu[i] as Float32Array;
      v.forEach((a, j) => {
        assert.ok(Math.abs(a - (c[j] as number)) <= 1e-4 * Math.max(1, Math.abs(c[j] as number)), `grad ${i}[${j}]`);
      });
    });
  });
});
