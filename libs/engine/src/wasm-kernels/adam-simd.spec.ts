import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../backend';
import { adamSimd, backendMemory } from './adam-simd';
import { ADAM_UPDATE, type AdamUpdateAttrs, adamPass } from './adam-update';
import { randomValues, seeded } from './kernel-testing';

describe('AdamUpdate as WebAssembly SIMD over the backend memory', () => {
  it('compiles over the wasm backend memory and equals the scalar loop bit for bit (tail included)', async () => {
    await initEngine('wasm');
    const memory = backendMemory((tf.engine().backend as unknown as { wasm: unknown }).wasm);
    assert.ok(memory, "the backend's memory");
    assert.equal(typeof adamSimd(memory), 'function', 'the SIMD function');
    const rand = seeded(9);
    const size = 4 * 257 + 3;
    const inputs = ['x', 'm', 'v', 'grad'].map((k) => {
      const values = randomValues(rand, [size]);
      return k === 'v' ? values.map((a) => a * a) : values.map((a) => a * 10 ** (k === 'grad' ? -3 : 0));
    });
    const attrs: AdamUpdateAttrs = {
      learningRate: 3e-3,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-7,
      accBeta1: 0.9 ** 4,
      accBeta2: 0.999 ** 4,
      gradDivisor: 24,
      weightDecay: 0.01,
    };
    const tensors = Object.fromEntries(['x', 'm', 'v', 'grad'].map((k, i) => [k, tf.tensor1d(inputs[i] as Float32Array)]));
    const out = tf.engine().runKernel(ADAM_UPDATE, tensors, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    const actual = out.map((t) => t.dataSync() as Float32Array);
    const expected = [0, 1, 2].map(() => new Float32Array(size));
    adamPass([...(inputs as Float32Array[]), ...expected], attrs);
    actual.forEach((a, i) => {
      assert.deepEqual(a, expected[i], `output ${i}`);
    });
    tf.dispose([...out, ...Object.values(tensors)]);
  });
});
