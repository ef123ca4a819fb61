import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Dataset, openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { assemble } from '@permafrost/model';
import type { GradientReducer } from './reducer';
import { adam, maxRelDiff, trainableValues } from './testing';
import { TrainingLoop } from './training-loop';

const trainIds = Array.from({ length: 40 }, (_, i) => i * 7);

/** The largest weight difference relative to the largest weight of `want` (the fleet tests' measure). */
function relativeDiff(got: Float32Array[], want: Float32Array[]): number {
  const scale = Math.max(...want.map((w) => w.reduce((a, x) => Math.max(a, Math.abs(x)), 0)));
  return (
    Math.max(...got.map((g, i) => g.reduce((a, x, j) => Math.max(a, Math.abs(x - ((want[i] as Float32Array)[j] as number))), 0))) / scale
  );
}

/** A rank of a 2-rank fleet that owns every shard: the other rank adds zeros, so its sums are the global ones. */
const alone: GradientReducer = { worldSize: 2, allreduce: async () => undefined };

async function rank(dataset: Dataset, onStep?: (step: number) => void): Promise<TrainingLoop> {
  return new TrainingLoop({
    model: await assemble({ name: 'mlp', inputSize: 10 }, {}, 10, 5),
    dataset,
    trainIds,
    valIds: [1, 2, 3],
    epochs: 1,
    batchSize: 10,
    seed: 1,
    optimizer: adam(0.01),
    reducer: alone,
    shards: { owned: Array.from({ length: 40 }, (_, i) => i), count: 40 },
    commit: true,
    onEvent: (e) => {
      if (e.type === 'step') onStep?.(e.step);
    },
  });
}

describe('entering a new generation', () => {
  let dataset: Dataset;
  before(async () => {
    await initEngine('cpu');
    dataset = await openDataset('mnist');
  });
  after(() => dataset.close());

  it('at step 0, before any update, trains as if nothing had happened (a fresh optimizer, iteration 0)', async () => {
    const reference = await rank(dataset);
    await reference.commitStart();
    await reference.runEpoch(1);
    const want = trainableValues(reference.ctl.suffix);
    await reference.close();

    const regrouped = await rank(dataset);
    await regrouped.commitStart();
    await regrouped.regroup({
      reducer: alone,
      shards: Array.from({ length: 40 }, (_, i) => i),
      shardCount: 40,
      resumeStep: 0,
      stateSource: true,
    });
    await regrouped.runEpoch(1, undefined, 0);
    const d = maxRelDiff(trainableValues(regrouped.ctl.suffix), want);
    await regrouped.close();
    assert.ok(d < 1e-6, `relative difference to the run without a new generation: ${d}`);
  });

  it('mid-epoch, from the commit of the resume step, ends with the same weights', async () => {
    const reference = await rank(dataset);
    await reference.commitStart();
    await reference.runEpoch(1);
    const want = trainableValues(reference.ctl.suffix);
    await reference.close();

    let stop = false;
    // two steps, then the third step's collective fails
    const regrouped = await rank(dataset, (step) => {
      if (step === 2) stop = true;
    });
    await regrouped.commitStart();
    const failing: GradientReducer = {
      worldSize: 2,
      allreduce: async () => {
        if (stop) throw new Error('a peer was lost');
      },
    };
    await regrouped.regroup({
      reducer: failing,
      shards: Array.from({ length: 40 }, (_, i) => i),
      shardCount: 40,
      resumeStep: 0,
      stateSource: true,
    });
    await assert.rejects(regrouped.runEpoch(1, undefined, 0), /a peer was lost/);
    assert.equal(regrouped.committedStep, 2);
    await regrouped.regroup({
      reducer: alone,
      shards: Array.from({ length: 40 }, (_, i) => i),
      shardCount: 40,
      resumeStep: 2,
      stateSource: true,
    });
    await regrouped.runEpoch(1, undefined, 2);
    // Adam's beta powers are recomputed from the iteration count on a state copy: float rounding only
    const d = relativeDiff(trainableValues(regrouped.ctl.suffix), want);
    await regrouped.close();
    assert.ok(d < 1e-6, `relative difference to the run without a new generation: ${d}`);
  });
});
