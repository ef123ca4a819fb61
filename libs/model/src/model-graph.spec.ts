import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import { UserError } from '@permafrost/telemetry';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { boundaryForTrainableLast, freezesNothing, splitAt, validBoundaries } from './model-graph';

/** input -> a -> b -> add(a, b) -> c -> out: cutting at b crosses the skip from a. */
function residual(): tfl.LayersModel {
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  const x = tfl.input({ shape: [4], name: 'in' });
  const a = tfl.layers.dense({ units: 4, name: 'a', kernelInitializer: init(1) }).apply(x) as tfl.SymbolicTensor;
  const b = tfl.layers.dense({ units: 4, name: 'b', kernelInitializer: init(2) }).apply(a) as tfl.SymbolicTensor;
  const s = tfl.layers.add({ name: 'add' }).apply([a, b]) as tfl.SymbolicTensor;
  const c = tfl.layers.dense({ units: 3, name: 'c', kernelInitializer: init(3) }).apply(s) as tfl.SymbolicTensor;
  const o = tfl.layers.dense({ units: 2, name: 'out', activation: 'softmax', kernelInitializer: init(4) }).apply(c) as tfl.SymbolicTensor;
  return tfl.model({ inputs: x, outputs: o, name: 'residual' });
}

describe('model graph', () => {
  before(async () => {
    await initEngine('cpu');
  });

  it('lists only cuts that a single tensor crosses', () => {
    assert.deepEqual(validBoundaries(residual()), ['a', 'add', 'c']);
  });

  it('splits so that suffix(prefix(x)) equals the full model', () => {
    const m = residual();
    for (const b of [...validBoundaries(m), 'in']) {
      const { prefix, suffix, boundaryShape } = splitAt(m, b);
      const x = tf.randomNormal([5, 4], 0, 1, 'float32', 7);
      const full = m.predict(x) as tf.Tensor;
      const mid = prefix.predict(x) as tf.Tensor;
      assert.deepEqual(mid.shape.slice(1), boundaryShape);
      const two = suffix.predict(mid) as tf.Tensor;
      assert.deepEqual(Array.from(two.dataSync()), Array.from(full.dataSync()), `boundary ${b}`);
    }
  });

  it('shares weights between the halves and the full model', () => {
    const m = residual();
    const { suffix } = splitAt(m, 'add');
    const expected = ['c', 'out'].flatMap((n) => m.getLayer(n).trainableWeights);
    assert.deepEqual(suffix.trainableWeights, expected);
    assert.equal(suffix.layers.length, 3); // the new input, c, out
    assert.equal(suffix.getLayer('c'), m.getLayer('c'));
  });

  it('rejects a cut inside the skip connection and lists the valid ones', () => {
    assert.throws(
      () => splitAt(residual(), 'b'),
      (e: unknown) => e instanceof UserError && /not a valid freeze boundary/.test(e.message) && /a, add, c/.test(e.message),
    );
    assert.throws(() => splitAt(residual(), 'nope'), /no layer named 'nope'/);
  });

  it('maps "all but the last k" to a boundary', () => {
    const m = residual();
    assert.equal(boundaryForTrainableLast(m, 1), 'c');
    assert.equal(boundaryForTrainableLast(m, 2), 'add');
    assert.throws(() => boundaryForTrainableLast(m, 3), /valid values: 4, 2, 1, or 5 and more/);
    assert.throws(() => boundaryForTrainableLast(m, 3), UserError);
    // covering every layer freezes nothing: the boundary is the input
    assert.equal(boundaryForTrainableLast(m, 5), 'in');
    assert.equal(boundaryForTrainableLast(m, 9), 'in');
    assert.ok(freezesNothing(splitAt(m, 'in')));
  });
});
