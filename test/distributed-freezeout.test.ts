/**
 * FreezeOut across a fleet: 2 local workers freeze the same blocks at the same global steps (the
 * coordinator announces them in the epoch plans, each worker checks them against its own plan),
 * change the reduced tensor set together, and end with the weights of the single-process run.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import { checkpointWeights, jobFlags, maxAbsDiff, readJson, runCli, runPaths, tempDir } from './support';

const tmp = tempDir('distributed-freezeout');

// mlp blocks: flatten | dense_1 | dense_2, head: classifier. k = 2 leaves dense_1 and dense_2
// trainable; 3 epochs of 10 steps, linear t0 = 0.5: t = 0.5, 0.75 -> freezes at steps 16 and 23
const job = (name: string) =>
  jobFlags({
    model: 'mlp',
    inputSize: 14,
    trainSamples: 480,
    valSamples: 60,
    freeze: 'freezeout',
    k: 2,
    schedule: 'linear',
    t0: 0.5,
    epochs: 3,
    batchSize: 48,
    optimizer: 'adam',
    lr: 0.01,
    seed: 5,
    ...runPaths(tmp.path, name),
  });

const finalWeights = (name: string) => checkpointWeights(runPaths(tmp.path, name).checkpointDir);

describe('distributed FreezeOut', () => {
  before(async () => {
    await initEngine('wasm');
  });

  it('2 workers freeze at the same steps and match the single-process run', async () => {
    const single = await runCli(['train', ...job('single')]);
    assert.equal(single.code, 0, single.stderr);
    const r = await runCli(['coordinator', 'start', '--local-workers', '2', ...job('w2')], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const report = readJson(runPaths(tmp.path, 'w2').report);
    const singleReport = readJson(runPaths(tmp.path, 'single').report);
    const boundaries = (rep: { epochs: { boundary: string }[] }) => rep.epochs.map((e) => e.boundary);
    assert.deepEqual(boundaries(report), ['flatten', 'dense_1', 'dense_2']);
    assert.deepEqual(boundaries(singleReport), ['flatten', 'dense_1', 'dense_2']);
    assert.deepEqual(
      report.epochs.map((e: { trainableLayers: number }) => e.trainableLayers),
      [3, 2, 1],
    );
    // each worker logs its advances: both at steps 16 and 23
    const advances = r.stderr
      .split('\n')
      .filter((l) => l.includes('"boundary advanced"'))
      .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as { step: number; to: string });
    assert.deepEqual(advances.map((a) => `${a.step}:${a.to}`).sort(), ['16:dense_1', '16:dense_1', '23:dense_2', '23:dense_2']);
    const d = maxAbsDiff(await finalWeights('w2'), await finalWeights('single'));
    assert.ok(d < 1e-4, `max weight difference to the single-process run: ${d}`);
    // the cache followed the boundary: after an advance, samples miss at the new boundary once
    // (computed from the old boundary's entries), then hit
    assert.equal(report.epochs[0].cacheMisses, 480);
    for (const e of report.epochs) assert.equal(e.cacheHits + e.cacheMisses, 480);
    assert.ok(report.epochs[1].cacheHits > 0 && report.epochs[2].cacheHits > 0);
  });
});
