/**
 * Training the whole network across a fleet: with nothing frozen (`--freeze none`) and with
 * FreezeOut from the input, 2 local workers end with the weights of the single-process run.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import { checkpointWeights, type JobFlags, jobFlags, maxAbsDiff, readJson, runCli, runPaths, tempDir } from './support';

const tmp = tempDir('train-whole');

// mlp blocks: flatten | dense_1 | dense_2, head: classifier; 3 epochs of 10 steps
const job = (name: string, freeze: Partial<JobFlags>) =>
  jobFlags({
    model: 'mlp',
    inputSize: 14,
    trainSamples: 480,
    valSamples: 60,
    epochs: 3,
    batchSize: 48,
    optimizer: 'sgd',
    lr: 0.05,
    momentum: 0.9,
    seed: 8,
    ...freeze,
    ...runPaths(tmp.path, name),
  });

/** Trains `freeze` in one process and on 2 local workers; returns both reports and the weight difference. */
async function singleAndFleet(name: string, freeze: Partial<JobFlags>) {
  const single = await runCli(['train', ...job(`${name}-1`, freeze)]);
  assert.equal(single.code, 0, single.stderr);
  const fleet = await runCli(['coordinator', 'start', '--local-workers', '2', ...job(`${name}-2`, freeze)], { timeoutMs: 120_000 });
  assert.equal(fleet.code, 0, fleet.stderr);
  const weights = (n: string) => checkpointWeights(runPaths(tmp.path, n).checkpointDir);
  return {
    single: readJson(runPaths(tmp.path, `${name}-1`).report),
    fleet: readJson(runPaths(tmp.path, `${name}-2`).report),
    diff: maxAbsDiff(await weights(`${name}-2`), await weights(`${name}-1`)),
  };
}

describe('training the whole network', () => {
  before(async () => {
    await initEngine('wasm');
  });

  it('--freeze none: every layer trains uncached, 2 workers match the single-process run', async () => {
    const r = await singleAndFleet('none', { freeze: 'none' });
    for (const rep of [r.single, r.fleet]) {
      assert.equal(rep.model.frozenLayers, 0);
      assert.deepEqual(
        rep.epochs.map((e: { boundary: string; cached: boolean }) => `${e.boundary}:${e.cached}`),
        ['input:false', 'input:false', 'input:false'],
      );
      assert.equal(rep.epochs[0].trainableLayers, 3);
    }
    assert.ok(r.diff < 1e-4, `max weight difference to the single-process run: ${r.diff}`);
  });

  it('FreezeOut from the input: the cache opens at the first freeze, 2 workers match one process', async () => {
    // t_i = 0.5, 0.667, 0.833 over 30 steps: flatten freezes at 16, dense_1 at 21, dense_2 at 26
    const r = await singleAndFleet('freezeout', { freeze: 'freezeout', schedule: 'linear', t0: 0.5 });
    for (const rep of [r.single, r.fleet]) {
      assert.deepEqual(
        rep.epochs.map((e: { boundary: string; cached: boolean }) => `${e.boundary}:${e.cached}`),
        ['input:false', 'flatten:true', 'dense_2:true'],
      );
      assert.equal(rep.epochs[0].trainableLayers, 3);
    }
    assert.ok(r.diff < 1e-4, `max weight difference to the single-process run: ${r.diff}`);
  });

  it('accepts --trainable-last covering every layer', async () => {
    const r = await runCli(['train', '--dry-run', ...job('all-layers', { trainableLast: 4 })]);
    assert.equal(r.code, 0, r.stderr);
  });

  it('the dry run of FreezeOut from the input plans every block, the first one included', async () => {
    const r = await runCli(['train', '--dry-run', ...job('plan', { model: 'resnet-small', inputSize: 12, freeze: 'freezeout' })]);
    assert.equal(r.code, 0, r.stderr);
    const blocks = r.stdout.split('\n').filter((l) => /^(stem|stage\d_unit1) /.test(l));
    assert.deepEqual(
      blocks.map((l) => l.split(/\s+/)[0]),
      ['stem', 'stage1_unit1', 'stage2_unit1', 'stage3_unit1'],
    );
    // cubic, t0 = 0.8: the stem at t = 0.512 of 30 steps
    assert.match(blocks[0] ?? '', /^stem\s+0\.512\s+16\s+2\s/);
    assert.match(r.stdout, /expected speedup over no freezing: \d\.\d\dx .*, \d\.\d\dx with the cache/);
  });
});
