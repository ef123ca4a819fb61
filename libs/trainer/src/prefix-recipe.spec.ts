import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { validateJob } from '@permafrost/job';
import { jobFromRecipe, prefixRecipe } from './prefix-recipe';

describe('prefix recipes', () => {
  it('keep what rebuilds the prefix, with absolute paths, and rebuild an equivalent job', () => {
    const job = validateJob({
      model: { name: 'models/mine/model.json', inputSize: 32, head: 'gap-8' },
      data: { dataset: 'idx:data/set', trainSamples: 100 },
      freeze: { trainableLast: 2 },
      train: { seed: 7, epochs: 9 },
    });
    const r = prefixRecipe(job);
    assert.deepEqual(r, {
      model: { name: resolve('models/mine/model.json'), inputSize: 32, head: 'gap-8', pretrained: true },
      data: { dataset: `idx:${resolve('data/set')}`, fashionMnistDir: '/usr/share/datasets/fashion-mnist' },
      seed: 7,
    });
    assert.equal(
      prefixRecipe(validateJob({ model: { name: 'mlp' }, data: { dataset: 'imagefolder:~/x' } })).data.dataset,
      'imagefolder:~/x',
    );
    const back = jobFromRecipe(JSON.parse(JSON.stringify(r)), 'block_3', 'wasm');
    assert.deepEqual(back.model, r.model);
    assert.deepEqual(back.freeze, { policy: 'prefix', boundary: 'block_3', schedule: 'cubic', t0: 0.8, scaleLr: true });
    assert.equal(back.train.seed, 7);
    assert.equal(back.train.backend, 'wasm');
    assert.throws(() => jobFromRecipe({ ...r, model: { ...r.model, nmae: 'x' } }, 'b'), /the fingerprint record: unknown field model.nmae/);
  });
});
