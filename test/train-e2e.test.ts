import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { initEngine } from '@permafrost/engine';
import { checkpointWeights, jobFlags, maxAbsDiff, readJson, runCli, runPaths, tempDir } from './support';

const tmp = tempDir('train-e2e');

describe('permafrost train (real process)', () => {
  it('trains from a YAML spec with flag overrides, writes the report and a checkpoint', async () => {
    const config = tmp.file(
      'job.yaml',
      [
        'model:',
        '  name: mlp',
        '  inputSize: 14',
        'data:',
        '  dataset: mnist',
        '  trainSamples: 512',
        '  valSamples: 128',
        'freeze:',
        '  trainableLast: 2',
        'train:',
        '  epochs: 5',
        '  batchSize: 64',
        '  optimizer: sgd',
        '  lr: 0.1',
        '  momentum: 0.9',
        '  backend: wasm',
        '',
      ].join('\n'),
    );
    const report = join(tmp.path, 'report.json');
    const ckpt = join(tmp.path, 'ckpt');
    const r = await runCli(['train', '--config', config, '--epochs', '2', '--report', report, '--checkpoint-dir', ckpt]);
    assert.equal(r.code, 0, r.stderr);
    const rep = readJson(report);
    assert.equal(rep.backend, 'wasm');
    assert.equal(rep.workers, 1);
    assert.equal(rep.epochs.length, 2, 'flag overrides the file');
    for (const e of rep.epochs) {
      for (const k of [
        'epoch',
        'seconds',
        'samplesPerSec',
        'trainLoss',
        'valLoss',
        'valAccuracy',
        'cacheHits',
        'cacheMisses',
        'trainableLayers',
        'boundary',
      ]) {
        assert.ok(k in e, `epoch record has ${k}`);
      }
    }
    assert.equal(rep.epochs[0].boundary, 'dense_1');
    assert.equal(rep.epochs[0].trainableLayers, 2);
    assert.equal(rep.data.trainSamples, 512);
    assert.equal(rep.data.valSamples, 128);
    assert.ok(rep.final.valAccuracy > 0.3, `learns something: ${rep.final.valAccuracy}`);
    assert.ok(rep.epochs[1].trainLoss < rep.epochs[0].trainLoss);
    assert.equal(rep.final.checkpoint, join(ckpt, 'final'));
    const meta = readJson(join(ckpt, 'final', 'meta.json'));
    assert.equal(meta.epoch, 2);
    assert.equal(meta.step, 16);
    assert.equal(meta.job.train.optimizer, 'sgd');
    // structured logs off a TTY: every stderr line is JSON
    for (const line of r.stderr.split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(line), line);
    assert.ok(r.stderr.includes('"msg":"backend selected"'));
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
    assert.equal(summary.valAccuracy, rep.final.valAccuracy);
  });

  it('prints the resolved job spec', async () => {
    const r = await runCli(['train', '--model', 'mlp', '--dataset', 'mnist', '--print-config']);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout);
    assert.equal(job.model.name, 'mlp');
    assert.equal(job.train.batchSize, 32);
  });

  it('trains the same with XNNPACK threads as with one (wasm, conv layers training)', async () => {
    await initEngine('wasm'); // reads the checkpoints
    const weights: Float32Array[][] = [];
    for (const threads of [1, 2]) {
      const paths = runPaths(tmp.path, `threads-${threads}`);
      const job = { model: 'cnn-small', inputSize: 14, trainableLast: 7, trainSamples: 192, valSamples: 32, epochs: 1 };
      const flags = jobFlags({ ...job, batchSize: 32, optimizer: 'sgd', lr: 0.05, seed: 5, threads, noCache: true, ...paths });
      const r = await runCli(['train', ...flags]);
      assert.equal(r.code, 0, r.stderr);
      const selected = r.stderr.split('\n').find((l) => l.includes('"msg":"backend selected"')) ?? '';
      assert.match(selected, new RegExp(`"threads":${Math.min(threads, availableParallelism())}\\b`), r.stderr);
      weights.push(await checkpointWeights(paths.checkpointDir));
    }
    const d = maxAbsDiff(weights[0] as Float32Array[], weights[1] as Float32Array[]);
    assert.ok(d <= 1e-4, `max |threads 1 - threads 2| = ${d}`);
  });
});
