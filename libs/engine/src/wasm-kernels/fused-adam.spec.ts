import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../backend';
import { FusedAdamOptimizer } from './fused-adam';
import { useFusedWasmKernels } from './fused-switch';
import { type Data, randomValues, relativeError, seeded } from './kernel-testing';

const SHAPES = [[3, 3, 4, 5], [7], [], [2, 33]];
const STEPS = 6;

interface Run {
  backend: 'wasm' | 'cpu';
  optimizer: (lr: number) => tf.Optimizer;
  /** the trainer's division and weight decay: through applyScaled, or as tensors before applyGradients */
  divisor?: number;
  weightDecay?: number;
  fused?: boolean;
}

let runs = 0;

/** Trains a few variables STEPS times on seeded gradients; returns the values and the optimizer's state. */
async function train(r: Run): Promise<{ values: Data[]; state: Data[] }> {
  await initEngine(r.backend);
  useFusedWasmKernels(r.fused ?? true);
  const rand = seeded(31);
  const run = runs++;
  const vars = SHAPES.map((s, i) => tf.variable(tf.tensor(randomValues(rand, s), s, 'float32'), true, `adam-spec-${run}-${i}`));
  const optimizer = r.optimizer(0.01);
  const divisor = r.divisor ?? 1;
  const weightDecay = r.weightDecay ?? 0;
  const tensorsBefore = tf.memory().numTensors;
  for (let step = 0; step < STEPS; step++) {
    // gradients of mixed scale, some entries exactly zero, as real ones are
    const grads = Object.fromEntries(
      vars.map((v, i) => [
        v.name,
        tf.tensor(
          randomValues(rand, v.shape).map((x, j) => (j % 5 === i ? 0 : x * 10 ** (i - 2))),
          v.shape,
        ),
      ]),
    );
    const scaled = (optimizer as Partial<FusedAdamOptimizer>).applyScaled?.call(optimizer, grads, divisor, weightDecay);
    if (!scaled) {
      const mean = tf.tidy(() =>
        Object.fromEntries(vars.map((v) => [v.name, tf.add(tf.div(grads[v.name] as tf.Tensor, divisor), tf.mul(v, weightDecay))] as const)),
      );
      optimizer.applyGradients(mean);
      tf.dispose(Object.values(mean));
    }
    tf.dispose(Object.values(grads));
    if (step === 0) assert.equal(tf.memory().numTensors, tensorsBefore + 2 * vars.length, 'one m and one v per variable');
  }
  assert.equal(tf.memory().numTensors, tensorsBefore + 2 * vars.length, 'no tensors left behind');
  const read = async (t: tf.Tensor): Promise<Data> => ({ values: (await t.data()) as Float32Array, shape: t.shape });
  const values = await Promise.all(vars.map(read));
  const weights = await optimizer.getWeights();
  const state = await Promise.all(weights.map((w) => read(w.tensor)));
  tf.dispose(weights.slice(0, 1).map((w) => w.tensor));
  optimizer.dispose();
  tf.dispose(vars);
  useFusedWasmKernels(true);
  return { values, state };
}

function assertSame(actual: { values: Data[]; state: Data[] }, expected: { values: Data[]; state: Data[] }, tolerance: number): void {
  assert.equal(actual.state.length, expected.state.length, 'state entries');
  for (const [kind, a, e] of [
    ['variable', actual.values, expected.values],
    ['state', actual.state, expected.state],
  ] as const) {
    a.forEach((d, i) => {
      const err = relativeError(d.values, (e[i] as Data).values);
      assert.ok(err <= tolerance, `${kind} ${i} [${d.shape}]: relative error ${err.toExponential(2)} > ${tolerance}`);
    });
  }
}

const tfAdam = (lr: number) => tf.train.adam(lr);
const fusedAdam = (lr: number) => new FusedAdamOptimizer(lr);

describe('FusedAdamOptimizer (AdamUpdate, one kernel per variable on wasm)', () => {
  it('equals tf.train.adam on the cpu backend over several steps (values, moments, iterations)', async () => {
    const expected = await train({ backend: 'cpu', optimizer: tfAdam });
    const actual = await train({ backend: 'wasm', optimizer: fusedAdam });
    assertSame(actual, expected, 1e-6);
  });

  it("divides the gradient and adds weight decay in the same pass, as the trainer's tensors did", async () => {
    const expected = await train({ backend: 'cpu', optimizer: tfAdam, divisor: 32, weightDecay: 0.05 });
    const actual = await train({ backend: 'wasm', optimizer: fusedAdam, divisor: 32, weightDecay: 0.05 });
    assertSame(actual, expected, 1e-6);
  });

  it("runs tfjs's own update on cpu and with the fused kernels off", async () => {
    const reference = await train({ backend: 'wasm', optimizer: tfAdam, fused: false });
    assertSame(await train({ backend: 'wasm', optimizer: fusedAdam, fused: false }), reference, 0);
    const cpu = await train({ backend: 'cpu', optimizer: tfAdam, divisor: 4 });
    assertSame(await train({ backend: 'cpu', optimizer: fusedAdam, divisor: 4 }), cpu, 0);
  });

  it("takes over tf.train.adam's state and continues as it would", async () => {
    await initEngine('wasm');
    const rand = seeded(5);
    const shape = [4, 6];
    const make = (name: string) => tf.variable(tf.tensor(randomValues(rand, shape), shape), true, name);
    const a = make('adam-spec-handover-a');
    const b = tf.variable(a.clone(), true, 'adam-spec-handover-b');
    const grad = () => tf.tensor(randomValues(rand, shape), shape);
    const plain = tf.train.adam(0.02);
    const g0 = grad();
    plain.applyGradients([{ name: a.name, tensor: g0 }]);
    const other = tf.train.adam(0.02);
    other.applyGradients([{ name: b.name, tensor: g0 }]);
    const fused = new FusedAdamOptimizer(0.02);
    await fused.setWeights(await other.getWeights());
    const g1 = grad();
    plain.applyGradients([{ name: a.name, tensor: g1 }]);
    fused.applyGradients({ [b.name]: g1 });
    const err = relativeError((await b.data()) as Float32Array, (await a.data()) as Float32Array);
    assert.ok(err <= 1e-6, `relative error ${err}`);
    tf.dispose([a, b, g0, g1]);
    for (const o of [plain, other, fused]) o.dispose();
  });
});
