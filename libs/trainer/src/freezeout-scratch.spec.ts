import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDataset } from '@permafrost/data';
import { initEngine } from '@permafrost/engine';
import type { FreezePolicy } from '@permafrost/freeze';
import { assemble } from '@permafrost/model';
import { fit } from './fit';
import { countLayerSamples, maxRelDiff, sgd, smallRun } from './testing';

const root = mkdtempSync(join(tmpdir(), 'permafrost-scratch-'));
after(() => rmSync(root, { recursive: true, force: true }));

// FreezeOut from the input: resnet-small's 4 blocks all train at first; 9 steps, linear t0 = 0.5:
// t_i = 0.5, 0.625, 0.75, 0.875 -> the blocks freeze at steps 5, 6, 7 and 8
const freezeout: FreezePolicy = { policy: 'freezeout', schedule: 'linear', t0: 0.5, scaleLr: true };
const BLOCKS = ['stem', 'stage1_unit1', 'stage2_unit1', 'stage3_unit1'];

async function run(cacheDir?: string) {
  const dataset = await openDataset('mnist');
  const model = await assemble({ name: 'resnet-small', inputSize: 12 }, { policy: 'freezeout' }, 10, 21);
  const first = countLayerSamples(model.full, 'stem_conv');
  const layersOf = (block: string) => model.layout.blocks.find((b) => b.name === block)?.layers ?? [];
  // every weight of a block: kernels, BN scale and offset, and BN moving statistics
  const snapshot = (block: string) =>
    layersOf(block).flatMap((n) => model.full.getLayer(n).weights.map((w) => (w.read().dataSync() as Float32Array).slice()));
  const frozenAt = new Map<string, Float32Array[]>();
  const events: string[] = [];
  let firstLayerAtFreeze = 0;
  const r = await fit({
    model,
    dataset,
    ...smallRun,
    optimizer: sgd(0.05, { momentum: 0.9 }),
    freeze: freezeout,
    cache: cacheDir ? { dir: cacheDir, codec: 'float32', modelName: 'resnet-small' } : undefined,
    onProgress: (e) => {
      if (e.type !== 'freeze') return;
      events.push(`${e.step}:${e.blocks.join('+')}`);
      if (e.blocks.includes('stem')) firstLayerAtFreeze = first.samples;
      for (const b of e.blocks) frozenAt.set(b, snapshot(b));
    },
  });
  r.trainer.dispose();
  await dataset.close();
  return {
    ...r,
    events,
    firstLayerAfterFreeze: first.samples - firstLayerAtFreeze,
    frozenAt,
    frozenNow: new Map([...frozenAt.keys()].map((b) => [b, snapshot(b)])),
    weights: model.full.weights.map((w) => (w.read().dataSync() as Float32Array).slice()),
  };
}

describe('FreezeOut from the input', () => {
  let uncached: Awaited<ReturnType<typeof run>>;
  let cached: Awaited<ReturnType<typeof run>>;

  before(async () => {
    await initEngine('wasm');
    uncached = await run();
    cached = await run(join(root, 'cache'));
  });

  it('starts with every block trainable and freezes each at its scheduled step', () => {
    assert.deepEqual(uncached.events, ['5:stem', '6:stage1_unit1', '7:stage2_unit1', '8:stage3_unit1']);
    assert.deepEqual(cached.events, uncached.events);
    assert.deepEqual(
      cached.epochs.map((e) => `${e.boundary}:${e.cached}`),
      ['input:false', 'stem_relu:true', 'stage3_unit1_out:true'],
    );
    assert.equal(cached.epochs[2]?.trainableLayers, 1, 'the classifier never freezes');
  });

  it('keeps every frozen block bit-identical after its freeze: weights and BatchNormalization statistics', () => {
    for (const r of [cached, uncached]) {
      assert.deepEqual([...r.frozenAt.keys()], BLOCKS);
      for (const [block, at] of r.frozenAt) assert.equal(maxRelDiff(at, r.frozenNow.get(block) as Float32Array[]), 0, block);
    }
  });

  it('with the cache, the first layer runs once per sample after its freeze; without, every step', () => {
    // 48 training and 8 validation ids
    assert.equal(cached.firstLayerAfterFreeze, 48 + 8);
    // uncached: the 4 batches of steps 5-8 and 2 validation passes
    assert.equal(uncached.firstLayerAfterFreeze, 4 * 16 + 2 * 8);
    assert.equal(cached.fingerprints.length, 4, 'the cache opens at the first freeze, one fingerprint per boundary after it');
  });

  it('writes no entry in the last epoch, where nothing would read it, and writes before it', () => {
    assert.ok((cached.epochs[1]?.cacheBytesWritten ?? 0) > 0);
    assert.equal(cached.epochs[2]?.cacheBytesWritten, 0);
  });

  it('the cache changes nothing: the cached run ends with the uncached run weights', () => {
    const d = maxRelDiff(cached.weights, uncached.weights);
    assert.ok(d <= 1e-4, `max relative difference ${d}`);
  });
});
