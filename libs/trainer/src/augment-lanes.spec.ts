import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ActivationCache } from '@permafrost/cache';
import { openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { validateJob } from '@permafrost/job';
import { assemble, splitAt } from '@permafrost/model';
import { AugmentLanes, type AugmentSettings } from './augment-lanes';
import { verifyCache } from './cache-verify';
import { fit } from './fit';
import { prefixRecipe } from './prefix-recipe';
import { adam as adamAt, maxRelDiff, smallRun, trainableValues as weightsOf } from './testing';

const adam = adamAt(0.01);
const spec = { crop: 2, flip: true, brightness: 0.1, contrast: 0.1 };
const root = mkdtempSync(join(tmpdir(), 'permafrost-augment-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** the job the runs below train, for the cache's rebuild recipe */
const job = validateJob({
  model: { name: 'mlp', inputSize: 14 },
  data: { dataset: 'mnist', augment: spec },
  freeze: { boundary: 'dense_1' },
  train: { seed: smallRun.seed },
});

async function run(augment: AugmentSettings | undefined, cacheDir?: string) {
  const dataset = await openDataset('mnist');
  const model = await assemble(job.model, job.freeze, 10, smallRun.seed);
  const r = await fit({
    model,
    dataset,
    ...smallRun,
    optimizer: adam,
    ...(augment ? { augment } : {}),
    cache: cacheDir ? { dir: cacheDir, codec: 'float32', modelName: 'mlp', recipe: prefixRecipe(job) } : undefined,
  });
  r.trainer.dispose();
  await dataset.close();
  return { ...r, weights: weightsOf(model.suffix) };
}

const counts = (r: Awaited<ReturnType<typeof run>>) => r.epochs.map((e) => [e.cacheHits, e.cacheMisses]);

describe('augmentation and the activation cache', () => {
  before(async () => {
    await initEngine('wasm');
  });

  it('is reproducible, and changes what trains', async () => {
    const views0 = { spec, featureNoise: 0, featureDropout: 0, views: 0 };
    const [a, b, plain] = [await run(views0), await run(views0), await run(undefined)];
    assert.equal(maxRelDiff(a.weights, b.weights), 0);
    assert.ok(maxRelDiff(a.weights, plain.weights) > 1e-3);
    assert.equal(a.prefixSamples, 3 * (48 + 8), 'uncached: the prefix runs on every batch');
  });

  it('views 2: each view computed once, both cached per sample, a rerun hits both; the same weights as uncached views', async () => {
    const dir = join(root, 'views');
    const views2 = { spec, featureNoise: 0, featureDropout: 0, views: 2 };
    const cached = await run(views2, dir);
    assert.deepEqual(counts(cached), [
      [0, 48],
      [0, 48],
      [48, 0],
    ]);
    assert.equal(cached.prefixSamples, 2 * 48 + 8);
    assert.equal(cached.fingerprints.length, 3, 'the plain prefix (validation) and one per view');
    const uncached = await run(views2);
    assert.ok(maxRelDiff(cached.weights, uncached.weights) <= 1e-5, `${maxRelDiff(cached.weights, uncached.weights)}`);
    const again = await run(views2, dir);
    assert.deepEqual(counts(again), [
      [48, 0],
      [48, 0],
      [48, 0],
    ]);
    assert.equal(again.prefixSamples, 0);
    const store = ActivationCache.open(dir, { readOnly: true });
    try {
      const views = store.fingerprints().filter((f) => f.augment !== undefined);
      assert.deepEqual(views.map((f) => f.augment?.replace(/.*:view/, 'view')).sort(), ['view0', 'view1']);
      for (const id of smallRun.trainIds.slice(0, 5)) {
        const [v0, v1] = views.map((f) => store.rawValue(f.id, id));
        assert.ok(v0 && v1 && !v0.equals(v1), `sample ${id}: two distinct cached views`);
      }
      const verified = await verifyCache(store, { select: { count: 4 } });
      assert.deepEqual(
        verified.reports.map((r) => [r.status, r.checked]),
        [
          ['ok', 4],
          ['ok', 4],
          ['ok', 4],
        ],
        'cache verify recomputes each view from its recipe',
      );
    } finally {
      await store.close();
    }
  });

  it('views follow a FreezeOut boundary: each view from the input once, the weights of the uncached run', async () => {
    const freeze = async (cacheDir?: string) => {
      const dataset = await openDataset('mnist');
      const model = await assemble({ name: 'mobilenet_v2', inputSize: 32, head: 'gap-8' }, { k: 3 }, 10, 11);
      const r = await fit({
        model,
        dataset,
        ...smallRun,
        optimizer: adam,
        freeze: { policy: 'freezeout', schedule: 'linear', t0: 0.5, scaleLr: true },
        augment: { spec, featureNoise: 0, featureDropout: 0, views: 2 },
        cache: cacheDir ? { dir: cacheDir, codec: 'float32', modelName: 'mobilenet_v2' } : undefined,
      });
      r.trainer.dispose();
      await dataset.close();
      return { ...r, weights: weightsOf(model.suffix) };
    };
    const cached = await freeze(join(root, 'freezeout'));
    const uncached = await freeze();
    assert.deepEqual(
      cached.epochs.map((e) => e.boundary),
      ['block_14_add', 'block_15_add', 'out_relu'],
    );
    assert.equal(cached.prefixSamples, 2 * 48 + 8, 'each view of a sample through the whole prefix once, validation once');
    assert.equal(cached.fingerprints.length, 4 * 3, 'the plain prefix and two views at each of 4 boundaries');
    const d = maxRelDiff(cached.weights, uncached.weights);
    assert.ok(d <= 1e-4, `max relative difference ${d}`);
  });

  it('FreezeOut from the input: the views take the cache that opens at the first freeze', async () => {
    const scratch = async (cacheDir?: string) => {
      const dataset = await openDataset('mnist');
      const model = await assemble({ name: 'resnet-small', inputSize: 12 }, { policy: 'freezeout' }, 10, 21);
      const r = await fit({
        model,
        dataset,
        ...smallRun,
        optimizer: adam,
        freeze: { policy: 'freezeout', schedule: 'linear', t0: 0.5, scaleLr: true },
        augment: { spec, featureNoise: 0, featureDropout: 0, views: 2 },
        cache: cacheDir ? { dir: cacheDir, codec: 'float32', modelName: 'resnet-small' } : undefined,
      });
      r.trainer.dispose();
      await dataset.close();
      return { ...r, weights: weightsOf(model.suffix) };
    };
    const cached = await scratch(join(root, 'scratch'));
    const uncached = await scratch();
    assert.deepEqual(
      cached.epochs.map((e) => e.cached),
      [false, true, true],
    );
    assert.equal(cached.fingerprints.length, 4 * 3, 'the plain prefix and two views at each of the 4 frozen boundaries');
    // epoch 3 is the last: no entry it computes can be read again
    assert.equal(cached.epochs[2]?.cacheBytesWritten, 0);
    const d = maxRelDiff(cached.weights, uncached.weights);
    assert.ok(d <= 1e-4, `max relative difference ${d}`);
  });

  it('views 2 while nothing is frozen: the fresh draws of views 0, then the two views from the first freeze', async () => {
    const dataset = await openDataset('mnist');
    const model = await assemble({ name: 'resnet-small', inputSize: 12 }, { policy: 'freezeout' }, 10, 21);
    const settings = (views: number) => ({ spec, featureNoise: 0, featureDropout: 0, views });
    const ids = smallRun.trainIds.slice(0, 6);
    const values = async (lanes: AugmentLanes, epoch: number) => {
      const b = await lanes.batch(epoch, ids);
      const v = Float32Array.from((await b.activations.data()) as Float32Array);
      b.activations.dispose();
      return v;
    };
    try {
      const fresh = new AugmentLanes(settings(0), 7, model, dataset);
      const viewed = new AugmentLanes(settings(2), 7, model, dataset);
      const epoch1 = await values(viewed, 1);
      assert.deepEqual(epoch1, await values(fresh, 1));
      const epoch2 = await values(viewed, 2);
      assert.deepEqual(epoch2, await values(fresh, 2));
      assert.notDeepEqual(epoch1, epoch2, 'a new draw every epoch');
      // the first freeze, at the stem: from now on sample s trains on view pickView(seed, epoch, s, 2)
      const next = { ...splitAt(model.full, 'stem_relu'), input: model.input };
      viewed.advance(next, splitAt(model.suffix, 'stem_relu').prefix);
      const frozenFromStart = new AugmentLanes(settings(2), 7, next, dataset);
      for (const epoch of [2, 3, 4]) assert.deepEqual(await values(viewed, epoch), await values(frozenFromStart, epoch));
      const perSample = (v: Float32Array) => ids.map((_, i) => v.subarray((i * v.length) / ids.length, ((i + 1) * v.length) / ids.length));
      const same = (a: Float32Array | undefined, b: Float32Array | undefined) =>
        a !== undefined && b !== undefined && a.every((x, j) => x === b[j]);
      const e3 = perSample(await values(viewed, 3));
      const e4 = perSample(await values(viewed, 4));
      const e5 = perSample(await values(viewed, 5));
      ids.forEach((id, i) => {
        assert.ok(!same(e3[i], e4[i]), `sample ${id}: epochs 3 and 4 (one cycle) train on its two views`);
        assert.ok(same(e3[i], e5[i]) || same(e4[i], e5[i]), `sample ${id}: epoch 5 trains on one of them again`);
      });
    } finally {
      await dataset.close();
    }
  });

  const noInput = { crop: 0, flip: false, brightness: 0, contrast: 0 };
  for (const [name, after] of [
    ['feature noise', { featureNoise: 0.5, featureDropout: 0 }],
    ['feature dropout', { featureNoise: 0, featureDropout: 0.3 }],
  ] as const) {
    it(`${name} keeps the cache, stored as the prefix computes it, and the weights of an uncached run`, async () => {
      const augment = { spec: noInput, ...after, views: 0 };
      const dir = join(root, name.replace(' ', '-'));
      const cached = await run(augment, dir);
      assert.deepEqual(counts(cached).slice(1), [
        [48, 0],
        [48, 0],
      ]);
      assert.equal(cached.prefixSamples, 48 + 8);
      const uncached = await run(augment);
      assert.ok(maxRelDiff(cached.weights, uncached.weights) <= 1e-5);
      const quiet = await run(undefined);
      assert.ok(maxRelDiff(cached.weights, quiet.weights) > 1e-3, `${name} changes what trains`);
      const store = ActivationCache.open(dir, { readOnly: true });
      try {
        const verified = await verifyCache(store, { select: { count: 8 } });
        assert.deepEqual(
          verified.reports.map((r) => [r.status, r.checked]),
          [['ok', 8]],
          'the cached activations are the prefix output, unmodified',
        );
      } finally {
        await store.close();
      }
    });
  }
});
