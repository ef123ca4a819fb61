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
import { adam as adamAt, countLayerSamples, maxRelDiff, sgd, smallRun } from './testing';

const adam = adamAt(0.01);

const root = mkdtempSync(join(tmpdir(), 'permafrost-freezeout-'));
after(() => rmSync(root, { recursive: true, force: true }));

// 3 trainable blocks (block_15, block_16, Conv_1); 9 steps; t_i = 0.5, 0.667, 0.833 -> freezes at steps 5, 7, 8
const freezeout: FreezePolicy = { policy: 'freezeout', schedule: 'linear', t0: 0.5, scaleLr: true };

async function run(opts: { cacheDir?: string; policy?: FreezePolicy; sgd?: boolean }) {
  const dataset = await openDataset('mnist');
  const model = await assemble({ name: 'mobilenet_v2', inputSize: 32, head: 'gap-8' }, { k: 3 }, 10, 11);
  const first = countLayerSamples(model.full, 'Conv1');
  const frozenAt = new Map<string, Float32Array[]>();
  const snapshot = (layers: string[]) =>
    layers.flatMap((n) => model.full.getLayer(n).weights.map((w) => (w.read().dataSync() as Float32Array).slice()));
  const events: { step: number; boundary: string }[] = [];
  const r = await fit({
    model,
    dataset,
    ...smallRun,
    optimizer: opts.sgd ? sgd(0.05, { momentum: 0.9 }) : adam,
    freeze: opts.policy ?? freezeout,
    cache: opts.cacheDir ? { dir: opts.cacheDir, codec: 'float32', modelName: 'mobilenet_v2' } : undefined,
    onProgress: (e) => {
      if (e.type !== 'freeze') return;
      events.push({ step: e.step, boundary: e.boundary });
      for (const b of e.blocks) frozenAt.set(b, snapshot(model.layout.blocks.find((x) => x.name === b)?.layers ?? []));
    },
  });
  r.trainer.dispose();
  await dataset.close();
  const frozenNow = new Map([...frozenAt.keys()].map((b) => [b, snapshot(model.layout.blocks.find((x) => x.name === b)?.layers ?? [])]));
  return {
    ...r,
    events,
    firstLayerSamples: first.samples,
    frozenAt,
    frozenNow,
    weights: model.full.weights.map((w) => (w.read().dataSync() as Float32Array).slice()),
  };
}

describe('FreezeOut training', () => {
  let uncached: Awaited<ReturnType<typeof run>>;
  let cached: Awaited<ReturnType<typeof run>>;

  before(async () => {
    // the conv gradient kernels libs/engine registers for wasm train the unfrozen blocks
    await initEngine('wasm');
    uncached = await run({});
    cached = await run({ cacheDir: join(root, 'cache') });
  });

  it('advances the boundary at the scheduled steps, block by block', () => {
    assert.deepEqual(uncached.events, [
      { step: 5, boundary: 'block_15_add' },
      { step: 7, boundary: 'block_16_project_BN' },
      { step: 8, boundary: 'out_relu' },
    ]);
    assert.deepEqual(cached.events, uncached.events);
    assert.deepEqual(
      cached.epochs.map((e) => e.boundary),
      ['block_14_add', 'block_15_add', 'out_relu'],
    );
    assert.ok((cached.epochs[0]?.trainableLayers ?? 0) > (cached.epochs[2]?.trainableLayers ?? 0));
  });

  it('with the cache, the first block runs once per sample in the whole run', () => {
    assert.equal(cached.firstLayerSamples, 48 + 8);
    assert.equal(cached.prefixSamples, 48 + 8);
    // without the cache, the frozen layers run forward for every batch and every validation pass
    assert.equal(uncached.firstLayerSamples, 3 * (48 + 8));
    assert.equal(cached.fingerprints.length, 4, 'one fingerprint per boundary');
  });

  it('ends with the weights of the uncached FreezeOut run (float32 cache)', () => {
    const d = maxRelDiff(cached.weights, uncached.weights);
    assert.ok(d <= 1e-4, `max relative difference ${d}`);
  });

  it("never changes a frozen block's weights or BatchNormalization statistics after its freeze step", () => {
    assert.equal(cached.frozenAt.size, 3);
    for (const [block, at] of cached.frozenAt) {
      const now = cached.frozenNow.get(block) as Float32Array[];
      assert.equal(maxRelDiff(at, now), 0, block);
    }
  });

  it('works with sgd with momentum too, and trains the head to the end', async () => {
    const r = await run({ cacheDir: join(root, 'sgd'), sgd: true });
    assert.equal(r.events.length, 3);
    assert.ok(Number.isFinite(r.epochs[2]?.trainLoss));
    assert.equal(r.epochs[2]?.trainableLayers, 2, 'the head (2 dense layers) never freezes');
  });
});
