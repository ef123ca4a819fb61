import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Dataset, openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { assemble } from '@permafrost/model';
import { FreezeController } from './freeze-controller';
import { freezePlanFor } from './freeze-setup';
import { adam as adamAt } from './testing';

const adam = adamAt(0.01);

describe('ActivationSource', () => {
  let dataset: Dataset;
  let dir: string;
  before(async () => {
    // the cpu backend keeps the array a tensor is made of: aliasing would show here
    await initEngine('cpu');
    dataset = await openDataset('mnist');
    dir = mkdtempSync(join(tmpdir(), 'permafrost-source-'));
  });
  after(async () => {
    await dataset.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a cached batch intact while the next one is read (a worker reads ahead)', async () => {
    const model = await assemble({ name: 'mlp', inputSize: 14 }, { boundary: 'dense_1' }, 10, 3);
    const ctl = new FreezeController({
      model,
      dataset,
      plan: freezePlanFor(model, { policy: 'prefix' }, 1),
      optimizer: adam,
      cache: { dir, codec: 'float32', modelName: 'mlp' },
    });
    const [a, b] = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    // fill the cache, and keep what each batch should hold
    const want = [];
    for (const ids of [a, b]) {
      const batch = await ctl.source.batch(ids);
      want.push(Array.from(batch.activations.dataSync()));
      batch.activations.dispose();
    }
    const first = await ctl.source.batch(a);
    const second = await ctl.source.batch(b);
    assert.equal(first.counters.hits + second.counters.hits, 6);
    assert.deepEqual(Array.from(first.activations.dataSync()), want[0]);
    assert.deepEqual(Array.from(second.activations.dataSync()), want[1]);
    first.activations.dispose();
    second.activations.dispose();
    ctl.trainer.dispose();
    await ctl.close();
  });
});
