/**
 * Augmentation and the activation cache with real processes (cnn-small at 16 px, frozen through
 * pool_1): `cache.views: 2` caches two distinct views per sample and a rerun hits both;
 * augmenting with views 0 warns once and trains uncached; two local workers train what one
 * process trains with augmentation, feature noise and feature dropout on; feature dropout alone
 * keeps the cache (every training sample a hit from epoch 2 on, in one process and in two workers).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ActivationCache } from '@permafrost/cache';
import { initEngine } from '@permafrost/engine';
import { checkpointWeights, jobFlags, maxAbsDiff, readJson, runCli, runPaths, tempDir } from './support';

const tmp = tempDir('augment');

const job = (name: string, extra: string[], cacheOf = name) => [
  ...jobFlags({
    model: 'cnn-small',
    inputSize: 16,
    boundary: 'pool_1',
    trainSamples: 96,
    valSamples: 16,
    epochs: 2,
    batchSize: 32,
    optimizer: 'sgd',
    lr: 0.1,
    momentum: 0.9,
    seed: 5,
    ...runPaths(tmp.path, name),
    cacheDir: runPaths(tmp.path, cacheOf).cacheDir,
  }),
  '--augment',
  ...extra,
];
const report = (name: string) => readJson(runPaths(tmp.path, name).report);
const counts = (name: string) => report(name).epochs.map((e: { cacheHits: number; cacheMisses: number }) => [e.cacheHits, e.cacheMisses]);

/** Trains `extra`'s job in one process (`one-NAME`) and with two local workers (`two-NAME`): the same weights and loss. */
async function oneEqualsTwo(name: string, extra: string[]): Promise<void> {
  const one = await runCli(['train', ...job(`one-${name}`, extra)], { timeoutMs: 180_000 });
  assert.equal(one.code, 0, one.stderr);
  const two = await runCli(['coordinator', 'start', '--local-workers', '2', ...job(`two-${name}`, extra)], { timeoutMs: 240_000 });
  assert.equal(two.code, 0, two.stderr);
  assert.equal(report(`two-${name}`).workers, 2);
  const [a, b] = await Promise.all([`one-${name}`, `two-${name}`].map((n) => checkpointWeights(runPaths(tmp.path, n).checkpointDir)));
  const d = maxAbsDiff(a as Float32Array[], b as Float32Array[]);
  assert.ok(d < 1e-4, `max weight difference to the single-process run: ${d}`);
  assert.ok(Math.abs(report(`one-${name}`).final.trainLoss - report(`two-${name}`).final.trainLoss) < 1e-4);
}

describe('augmentation and the cache across processes', () => {
  before(async () => {
    await initEngine('wasm');
  });

  it('cache.views 2: two distinct cached activations per sample, and a rerun hits both', async () => {
    const first = await runCli(['train', ...job('views', ['--cache-views', '2'])], { timeoutMs: 180_000 });
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(counts('views'), [
      [0, 96],
      [0, 96],
    ]);
    const again = await runCli(['train', ...job('views-again', ['--cache-views', '2'], 'views')], { timeoutMs: 180_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(counts('views-again'), [
      [96, 0],
      [96, 0],
    ]);
    assert.ok(report('views-again').epochs.every((e: { cached: boolean }) => e.cached));
    assert.deepEqual(report('views').data.augment, {
      crop: 4,
      flip: true,
      brightness: 0.1,
      contrast: 0.1,
      featureNoise: 0,
      featureDropout: 0,
      views: 2,
    });
    const store = ActivationCache.open(runPaths(tmp.path, 'views').cacheDir, { readOnly: true });
    try {
      const views = store.fingerprints().filter((f) => f.augment !== undefined);
      assert.equal(views.length, 2);
      assert.deepEqual(
        views.map((f) => [f.entries, f.hits]),
        [
          [96, 96],
          [96, 96],
        ],
      );
      const [a, b] = views.map((f) => store.sampleIds(f.id));
      assert.deepEqual(a, b, 'both views hold every training sample');
      for (const id of (a ?? []).slice(0, 8)) {
        const [x, y] = views.map((f) => store.rawValue(f.id, id));
        assert.ok(x && y && !x.equals(y), `sample ${id}: the two views differ`);
      }
    } finally {
      await store.close();
    }
    const ls = await runCli(['cache', 'ls', '--cache-dir', runPaths(tmp.path, 'views').cacheDir]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(ls.stdout.match(/view \d/g)?.sort(), ['view 0', 'view 1'], ls.stdout);
  });

  it('augmenting before the frozen prefix with views 0 warns once and trains uncached', async () => {
    const r = await runCli(['train', ...job('views0', [])], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('augmented inputs are not cached'));
    assert.equal(warnings.length, 1, r.stderr);
    const w = JSON.parse(warnings[0] as string);
    assert.equal(w.level, 'warn');
    assert.match(w.hint, /cache\.views/);
    assert.deepEqual(
      report('views0').epochs.map((e: { cached: boolean; cacheHits: number; cacheMisses: number }) => [e.cached, e.cacheHits]),
      [
        [false, 0],
        [false, 0],
      ],
    );
    const store = ActivationCache.open(runPaths(tmp.path, 'views0').cacheDir, { readOnly: true });
    try {
      assert.deepEqual(
        store.fingerprints().map((f) => [f.augment, f.entries]),
        [[undefined, 16]],
        'only the validation samples (never augmented) are cached',
      );
    } finally {
      await store.close();
    }
  });

  for (const views of [0, 2]) {
    it(`two local workers equal one process with augmentation, feature noise and dropout on (views ${views})`, async () => {
      await oneEqualsTwo(`${views}`, ['--feature-noise', '0.05', '--feature-dropout', '0.2', '--cache-views', String(views)]);
    });
  }

  it('feature dropout alone keeps the cache, and two local workers equal one process', async () => {
    const noInput = ['--augment-crop', '0', '--no-augment-flip', '--augment-brightness', '0', '--augment-contrast', '0'];
    await oneEqualsTwo('dropout', [...noInput, '--feature-dropout', '0.3']);
    assert.equal(report('one-dropout').data.augment.featureDropout, 0.3);
    for (const name of ['one-dropout', 'two-dropout']) {
      assert.deepEqual(
        counts(name),
        [
          [0, 96],
          [96, 0],
        ],
        `${name}: epoch 2 trains on cache hits only`,
      );
      assert.ok(
        report(name).epochs.every((e: { cached: boolean }) => e.cached),
        name,
      );
    }
  });
});
