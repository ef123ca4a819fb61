import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Dataset, openDataset, preprocess } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import { relativeError } from '@permafrost/engine/testing';
import { type Assembled, assemble, splitAt } from '@permafrost/model';
import * as tf from '@tensorflow/tfjs-core';
import { type ActivationBatch, ActivationSource, emptyCounters } from './activation-source';
import { type OpenedCache, openRunCache, registerPrefix } from './cache-setup';
import { FreezeController } from './freeze-controller';
import { freezePlanFor } from './freeze-setup';
import { PREFIX_BATCH } from './prefix-input';
import { adam as adamAt } from './testing';
import { PrefixUpstream, SegmentUpstream } from './upstream';

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

  it("serves a newer boundary's misses from a superseded source without writing them under the old fingerprint", async () => {
    const model = await assemble({ name: 'mlp', inputSize: 14 }, { boundary: 'dense_1' }, 10, 3);
    const spec = { dir: mkdtempSync(join(dir, 'superseded-')), codec: 'float32' as const };
    const old = openRunCache({ ...model, input: model.input }, dataset, 'mlp', spec) as OpenedCache;
    const oldSource = new ActivationSource(new PrefixUpstream(model.prefix, model.input, dataset), dataset, old);
    const held = [1, 2];
    (await oldSource.batch(held)).activations.dispose();
    // the advance dense_1 -> dense_2, as the freeze controller makes it
    const next = splitAt(model.full, 'dense_2');
    const opened = registerPrefix(old.store, { ...next, input: model.input }, dataset, 'mlp') as OpenedCache;
    const source = new ActivationSource(new SegmentUpstream(oldSource, splitAt(model.suffix, 'dense_2').prefix), dataset, opened);
    const b = await source.batch([1, 2, 3, 4]);
    b.activations.dispose();
    const probe = (h: OpenedCache, id: number) => h.store.get(h.handle, id, new Float32Array(32 * 64), 0);
    assert.deepEqual(
      [1, 2, 3, 4].map((id) => probe(opened, id)),
      ['hit', 'hit', 'hit', 'hit'],
      'the new boundary holds every id',
    );
    assert.deepEqual(
      [1, 2, 3, 4].map((id) => probe(old, id)),
      ['hit', 'hit', 'miss', 'miss'],
      'the old one only what it held',
    );
    assert.equal(source.prefixSamples, 4, 'the prefix ran once per id: 1 and 2 at first, 3 and 4 for the new boundary');
    await old.store.close();
  });

  it('uses every computed activation but writes only those a later read can use', async () => {
    const model = await assemble({ name: 'mlp', inputSize: 14 }, { boundary: 'dense_1' }, 10, 3);
    const opened = openRunCache({ ...model, input: model.input }, dataset, 'mlp', {
      dir: mkdtempSync(join(dir, 'read-later-')),
      codec: 'float32',
    }) as OpenedCache;
    const upstream = () => new PrefixUpstream(model.prefix, model.input, dataset);
    const source = new ActivationSource(upstream(), dataset, opened, (id) => id % 2 === 0);
    const ids = [1, 2, 3, 4];
    const first = await source.batch(ids);
    const plain = await new ActivationSource(upstream(), dataset).batch(ids);
    assert.deepEqual(Array.from(first.activations.dataSync()), Array.from(plain.activations.dataSync()));
    assert.equal(first.counters.misses, 4);
    assert.equal(first.counters.entriesAdded, 2);
    assert.equal(first.counters.bytesWritten, 2 * opened.store.valueBytes(opened.handle));
    tf.dispose([first.activations, plain.activations]);
    await opened.store.flush();
    const again = await source.batch(ids);
    again.activations.dispose();
    assert.deepEqual([again.counters.hits, again.counters.misses], [2, 2]);
    await opened.store.close();
  });
});

describe('ActivationSource computing ahead', () => {
  let dataset: Dataset;
  let dir: string;
  before(async () => {
    await initEngine('cpu');
    dataset = await openDataset('mnist');
    dir = mkdtempSync(join(tmpdir(), 'permafrost-ahead-'));
  });
  after(async () => {
    await dataset.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The prefix's activations of `ids`, computed alone. */
  async function alone(model: Assembled, ids: number[]): Promise<Float32Array> {
    const raw = await dataset.read(ids, { sizePx: model.input.sizePx });
    const y = tf.tidy(() => model.prefix.predict(preprocess(raw, model.input)) as tf.Tensor);
    const v = (await y.data()) as Float32Array;
    y.dispose();
    return v;
  }

  for (const cached of [false, true]) {
    it(`fills a short batch's inference call with coming misses and serves them unchanged (${cached ? 'cached' : 'uncached'})`, async () => {
      const model = await assemble({ name: 'mlp', inputSize: 14 }, { boundary: 'dense_1' }, 10, 3);
      const source = new ActivationSource(new PrefixUpstream(model.prefix, model.input, dataset), dataset);
      const ctl = cached
        ? new FreezeController({
            model,
            dataset,
            plan: freezePlanFor(model, { policy: 'prefix' }, 1),
            optimizer: adam,
            cache: { dir: mkdtempSync(join(dir, 'c-')), codec: 'float32', modelName: 'mlp' },
          })
        : undefined;
      const src = ctl?.source ?? source;
      const calls: number[][] = [];
      const up = src.upstream;
      const compute = up.compute.bind(up);
      up.compute = (ids, c, next) => {
        calls.push([...ids]);
        return compute(ids, c, next);
      };
      // each batch is checked and disposed before the call after next (batch's contract)
      const check = async (b: ActivationBatch, ids: number[]) => {
        assert.equal(b.counters.misses, ids.length, 'each batch counts its own misses');
        assert.equal(b.counters.entriesAdded, cached ? ids.length : 0);
        const e = relativeError((await b.activations.data()) as Float32Array, await alone(model, ids));
        assert.ok(e <= 1e-6, `batch ${ids}: relative error ${e}`);
        b.activations.dispose();
      };
      await check(await src.batch([1, 2, 3], [4, 5, 6, 7, 8]), [1, 2, 3]);
      assert.deepEqual(calls, [[1, 2, 3, 4, 5, 6, 7, 8]], 'one inference call for the batch and the coming misses');
      await check(await src.batch([4, 5, 6], [7, 8]), [4, 5, 6]);
      await check(await src.batch([7, 8], []), [7, 8]);
      assert.equal(calls.length, 1, 'the coming batches were served from memory');
      // ids the next call no longer names are dropped, and computed again when asked for
      (await src.batch([9], [10, 11])).activations.dispose();
      (await src.batch([12], [])).activations.dispose();
      (await src.batch([10], [])).activations.dispose();
      assert.deepEqual(calls.slice(1), [[9, 10, 11], [12], [10]]);
      if (ctl) {
        const again = await src.batch([1, 2, 3, 4, 5, 6, 7, 8], []);
        assert.equal(again.counters.hits, 8, 'what was served from memory was written to the cache');
        again.activations.dispose();
        ctl.trainer.dispose();
        await ctl.close();
      }
    });
  }

  it("reads the next slice's input while the current slice computes", async () => {
    const model = await assemble({ name: 'mlp', inputSize: 14 }, { boundary: 'dense_1' }, 10, 3);
    const reads: number[][] = [];
    const counted: Dataset = Object.assign(Object.create(dataset) as Dataset, {
      read: (ids: readonly number[], o?: { sizePx?: number }) => {
        reads.push([...ids]);
        return dataset.read(ids, o);
      },
    });
    const up = new PrefixUpstream(model.prefix, model.input, counted);
    const ids = Array.from({ length: PREFIX_BATCH + 8 }, (_, i) => i);
    const next = [100, 101];
    const c = emptyCounters();
    const first = await up.compute(ids, c, next);
    assert.deepEqual(reads, [ids.slice(0, PREFIX_BATCH), ids.slice(PREFIX_BATCH), next], 'each slice read once, the next call started');
    const want = await alone(model, ids);
    assert.ok(relativeError((await first.data()) as Float32Array, want) <= 1e-6);
    first.dispose();
    (await up.compute(next, c)).dispose();
    assert.equal(reads.length, 3, 'the next call took the read started for it');
    (await up.compute([7], c)).dispose();
    assert.deepEqual(reads.at(-1), [7], 'ids nobody started a read for are read then');
  });
});
