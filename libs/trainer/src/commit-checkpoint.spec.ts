import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Dataset, openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { assemble } from '@permafrost/model';
import { intactCheckpoint, resumePoint } from './checkpoint-pointer';
import type { GradientReducer } from './reducer';
import { adam, maxRelDiff, trainableValues } from './testing';
import { TrainingLoop } from './training-loop';

const trainIds = Array.from({ length: 40 }, (_, i) => i * 7);

/** A rank of a 2-rank fleet that owns every shard (its sums are the global ones); `fail` makes its collectives fail. */
function rank(dataset: Dataset, model: Awaited<ReturnType<typeof assemble>>, failing?: { now: boolean }) {
  const reducer: GradientReducer = {
    worldSize: 2,
    allreduce: async () => {
      if (failing?.now) throw new Error('a peer was lost');
    },
  };
  return new TrainingLoop({
    model,
    dataset,
    trainIds,
    valIds: [1, 2, 3],
    epochs: 2,
    batchSize: 10,
    seed: 1,
    optimizer: adam(0.01),
    reducer,
    shards: { owned: Array.from({ length: 40 }, (_, i) => i), count: 40 },
    commit: true,
    onEvent: (e) => {
      // fail the collective of global step 6: epoch 2's third step
      if (failing && e.type === 'step' && e.epoch === 2 && e.step === 2) failing.now = true;
    },
  });
}

describe('a checkpoint of the newest commit', () => {
  let dataset: Dataset;
  let root: string;
  before(async () => {
    await initEngine('cpu');
    dataset = await openDataset('mnist');
    root = mkdtempSync(join(tmpdir(), 'permafrost-commit-checkpoint-'));
  });
  after(async () => {
    await dataset.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('is written mid-epoch under the pointer, and resuming from it ends with the uninterrupted weights', async () => {
    const reference = rank(dataset, await assemble({ name: 'mlp', inputSize: 10 }, {}, 10, 5));
    await reference.runEpoch(1);
    await reference.runEpoch(2);
    const want = trainableValues(reference.ctl.suffix);
    await reference.close();

    const failing = { now: false };
    const broken = rank(dataset, await assemble({ name: 'mlp', inputSize: 10 }, {}, 10, 5), failing);
    await broken.commitStart();
    await broken.runEpoch(1);
    await assert.rejects(broken.runEpoch(2), /a peer was lost/);
    assert.equal(broken.committedStep, 6);
    const { dir, step } = await broken.checkpointCommit(root, { workers: 2 });
    await broken.close();
    assert.equal(step, 6);
    assert.equal(dir, join(root, 'step-00000006'));
    assert.ok(intactCheckpoint(dir));
    assert.ok(!existsSync(join(root, 'epoch-0001')), 'only the commit checkpoint was written');
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
    assert.deepEqual([meta.epoch, meta.step, meta.workers], [1, 6, 2]);
    assert.deepEqual(resumePoint(root), { epoch: 1, step: 6, dir });

    const resumed = rank(dataset, await assemble({ name: 'mlp', inputSize: 10 }, {}, 10, 9));
    await resumed.restore(dir);
    const r = await resumed.runEpoch(2);
    // steps 6 and 7 of epoch 2 (global batches of 10)
    assert.equal(r.samples, 20);
    const d = maxRelDiff(trainableValues(resumed.ctl.suffix), want);
    await resumed.close();
    assert.ok(d < 1e-5, `relative difference to the uninterrupted run: ${d}`);
  });
});
