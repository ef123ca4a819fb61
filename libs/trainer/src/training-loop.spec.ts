import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Dataset, openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import type { FreezePolicy } from '@permafrost/freeze';
import { type Assembled, assemble } from '@permafrost/model';
import { PermafrostError } from '@permafrost/telemetry';
import type { CacheSpec } from './cache-setup';
import type { GradientReducer } from './reducer';
import { adam as adamAt } from './testing';
import { TrainingLoop } from './training-loop';

const adam = adamAt(0.01);

const trainIds = Array.from({ length: 40 }, (_, i) => i * 7);

/** one rank of a fleet owning every shard of `trainIds`, global batches of 10, 2 epochs */
function rankLoop(
  model: Assembled,
  dataset: Dataset,
  reducer: GradientReducer,
  freeze: FreezePolicy,
  cache?: CacheSpec & { modelName: string },
) {
  return new TrainingLoop({
    model,
    dataset,
    trainIds,
    valIds: [1, 2, 3],
    epochs: 2,
    batchSize: 10,
    seed: 1,
    optimizer: adam,
    freeze,
    cache,
    reducer,
    shards: { owned: Array.from({ length: 40 }, (_, i) => i), count: 40 },
  });
}

const noReduction: GradientReducer = { worldSize: 2, allreduce: async () => undefined };

describe('the training loop and the announced freeze events', () => {
  let dataset: Dataset;
  before(async () => {
    await initEngine('wasm');
    dataset = await openDataset('mnist');
  });
  after(async () => {
    await dataset.close();
  });

  async function epochWith(announced: { step: number; boundary: string }[]) {
    // mlp blocks: flatten | dense_1 | dense_2; k = 2, 2 epochs of 4 steps, linear t0 = 0.5: freezes at 5 and 7
    const model = await assemble({ name: 'mlp', inputSize: 14 }, { k: 2 }, 10, 3);
    const loop = rankLoop(model, dataset, noReduction, { policy: 'freezeout', schedule: 'linear', t0: 0.5, scaleLr: true });
    await loop.runEpoch(1, []);
    return { plan: loop.plan, run: () => loop.runEpoch(2, announced), ctl: loop.ctl };
  }

  it('follows the plan the coordinator announced', async () => {
    const { plan, run, ctl } = await epochWith([]);
    const { run: again, ctl: ctl2 } = await epochWith(plan.events.map((e) => ({ step: e.step, boundary: e.boundary })));
    const mismatch = (e: unknown) => e instanceof PermafrostError && e.code === 'failed-precondition';
    await assert.rejects(run(), mismatch, 'announcing nothing where the plan freezes fails');
    await again();
    assert.equal(ctl2.boundary, 'dense_2');
    ctl.trainer.dispose();
    ctl2.trainer.dispose();
  });

  it('fails with a clear message when the announcement differs from its own plan', async () => {
    const { run, ctl } = await epochWith([{ step: 5, boundary: 'dense_2' }]);
    await assert.rejects(
      run(),
      /freeze plan mismatch at step 5: the coordinator announced boundary dense_2, this worker's plan says boundary dense_1/,
    );
    ctl.trainer.dispose();
  });
});

describe('the training loop reads the next batch while the gradient is reduced', () => {
  let dataset: Dataset;
  let dir: string;
  before(async () => {
    await initEngine('wasm');
    dataset = await openDataset('mnist');
    dir = mkdtempSync(join(tmpdir(), 'permafrost-prefetch-'));
  });
  after(async () => {
    await dataset.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** two epochs on a cached mlp; `log` records batch reads and reductions in order */
  async function twoEpochs(name: string, prefetch: boolean) {
    const model = await assemble({ name: 'mlp', inputSize: 14 }, { boundary: 'dense_1' }, 10, 3);
    const log: string[] = [];
    const reducer: GradientReducer = {
      worldSize: 2,
      allreduce: async () => {
        log.push('reduce');
        await new Promise<void>((r) => setImmediate(r));
        log.push('reduced');
      },
    };
    const loop = rankLoop(model, dataset, reducer, { policy: 'prefix' }, { dir: join(dir, name), codec: 'float32', modelName: 'mlp' });
    const ctl = loop.ctl;
    if (!prefetch) Object.defineProperty(ctl.source, 'cached', { get: () => false });
    const read = ctl.source.batch.bind(ctl.source);
    ctl.source.batch = (ids) => {
      log.push(`read ${ids[0]}`);
      return read(ids);
    };
    const epochs = [await loop.runEpoch(1), await loop.runEpoch(2)];
    ctl.trainer.dispose();
    await ctl.close();
    return { log, epochs };
  }

  it('from cache hits, between sending the gradient and getting the sums, and trains exactly the same', async () => {
    const on = await twoEpochs('on', true);
    const off = await twoEpochs('off', false);
    // per epoch: 4 steps of 10, then validation (one read, one reduction)
    const kinds = (l: string[]) => l.map((x) => x.split(' ')[0]).join(' ');
    assert.equal(
      kinds(on.log.slice(0, 15)),
      'read reduce reduced read reduce reduced read reduce reduced read reduce reduced read reduce reduced',
      'epoch 1 misses the cache: every batch is read in its turn',
    );
    assert.equal(
      kinds(on.log.slice(15)),
      'read reduce read reduced reduce read reduced reduce read reduced reduce reduced read reduce reduced',
      'epoch 2 hits: each next batch is read while the reduction is on',
    );
    assert.equal(kinds(off.log.slice(15)), kinds(on.log.slice(0, 15)), 'without a cache to read from, in turn again');
    assert.equal(on.epochs[1]?.trainCache.hits, 40);
    assert.deepEqual(
      on.epochs.map((e) => e.weightsHash),
      off.epochs.map((e) => e.weightsHash),
    );
    assert.deepEqual(
      on.epochs.map((e) => e.sampleIds),
      off.epochs.map((e) => e.sampleIds),
    );
  });
});
