import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '@permafrost/telemetry';
import { splitTrainVal } from './split';

const userError = (field: string) => (e: unknown) => e instanceof UserError && e.field === field;

describe('splitTrainVal', () => {
  const ds = { size: 5000 };

  it('is deterministic, disjoint, sorted, and defaults val to min(1000, 10%)', () => {
    const a = splitTrainVal(ds, { seed: 1 });
    assert.deepEqual(a, splitTrainVal(ds, { seed: 1 }));
    assert.equal(a.val.length, 500);
    assert.equal(a.train.length, 4500);
    assert.equal(new Set([...a.train, ...a.val]).size, 5000);
    assert.deepEqual(
      a.val,
      [...a.val].sort((x, y) => x - y),
    );
    assert.equal(splitTrainVal({ size: 50_000 }, { seed: 1 }).val.length, 1000);
  });

  it('differs between seeds', () => {
    assert.notDeepEqual(splitTrainVal(ds, { seed: 1 }).val, splitTrainVal(ds, { seed: 2 }).val);
  });

  it('keeps the validation set when only the training budget changes', () => {
    const small = splitTrainVal(ds, { seed: 9, trainSamples: 100, valSamples: 50 });
    const big = splitTrainVal(ds, { seed: 9, trainSamples: 2000, valSamples: 50 });
    assert.deepEqual(small.val, big.val);
    assert.equal(small.train.length, 100);
    assert.ok(small.train.every((id) => !small.val.includes(id) && id >= 0 && id < 5000));
  });

  it('allows using every sample, and zero validation samples', () => {
    const s = splitTrainVal({ size: 10 }, { seed: 0, trainSamples: 7, valSamples: 3 });
    assert.deepEqual(
      [...s.train, ...s.val].sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.equal(splitTrainVal({ size: 10 }, { seed: 0, valSamples: 0 }).train.length, 10);
  });

  it('reports impossible requests as UserError on the right field', () => {
    assert.throws(() => splitTrainVal(ds, { seed: 1, trainSamples: 4900, valSamples: 200 }), userError('data.trainSamples'));
    assert.throws(() => splitTrainVal(ds, { seed: 1, trainSamples: 5000 }), userError('data.trainSamples'));
    assert.throws(() => splitTrainVal(ds, { seed: 1, trainSamples: 0 }), userError('data.trainSamples'));
    assert.throws(() => splitTrainVal(ds, { seed: 1, valSamples: -1 }), userError('data.valSamples'));
    assert.throws(() => splitTrainVal(ds, { seed: 1, valSamples: 1.5 }), userError('data.valSamples'));
    assert.throws(() => splitTrainVal(ds, { seed: 1, valSamples: 5000 }), userError('data.valSamples'));
  });
});
