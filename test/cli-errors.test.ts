import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir } from './support';

const tmp = tempDir('cli-errors');
const base = ['train', '--backend', 'wasm', '--checkpoint-dir', join(tmp.path, 'ckpt')];

const cases: { name: string; args: string[]; expect: RegExp }[] = [
  {
    name: 'unknown model',
    args: [...base, '--model', 'resnet9000', '--dataset', 'mnist'],
    expect: /model\.name: unknown model 'resnet9000'/,
  },
  {
    name: 'missing dataset dir',
    args: [...base, '--model', 'mlp', '--dataset', `idx:${join(tmp.path, 'nope')}`],
    expect: /nope/,
  },
  {
    name: 'missing fashion-mnist',
    args: [...base, '--model', 'mlp', '--dataset', 'fashion-mnist', '--fashion-mnist-dir', join(tmp.path, 'fm')],
    expect: /apt-get install dataset-fashion-mnist/,
  },
  {
    name: 'invalid boundary',
    args: [...base, '--model', 'mlp', '--dataset', 'mnist', '--boundary', 'dense_9'],
    expect: /freeze\.boundary: no layer named 'dense_9'; valid boundaries: flatten, dense_1, dense_2/,
  },
  {
    name: 'malformed YAML',
    args: [...base, '--config', tmp.file('bad.yaml', 'model: {name: mlp\ndata: [\n')],
    expect: /bad\.yaml: malformed YAML/,
  },
  {
    name: 'negative batch size',
    args: [...base, '--model', 'mlp', '--dataset', 'mnist', '--batch-size', '-4'],
    expect: /train\.batchSize: .*got -4/,
  },
  {
    name: 'unknown field in the config',
    args: [...base, '--config', tmp.file('typo.yaml', 'model:\n  name: mlp\ndata:\n  dataset: mnist\ntrain:\n  epoch: 3\n')],
    expect: /typo\.yaml: unknown field train\.epoch/,
  },
  {
    name: 'backend not installed',
    args: [...base.slice(0, 1), '--backend', 'tensorflow', '--model', 'mlp', '--dataset', 'mnist'],
    expect: /backend 'tensorflow' is not available/,
  },
  {
    name: 'augmentation out of range',
    args: [...base, '--model', 'cnn-small', '--dataset', 'mnist', '--augment', '--augment-brightness', '0.9'],
    expect: /flags: data\.augment\.brightness: .*<=0\.5.*got 0\.9/,
  },
  {
    name: 'feature dropout out of range',
    args: [...base, '--model', 'cnn-small', '--dataset', 'mnist', '--augment', '--feature-dropout', '1'],
    expect: /flags: data\.augment\.featureDropout: .*<1.*got 1/,
  },
  {
    name: 'cache views without input augmentation',
    args: [...base, '--model', 'cnn-small', '--dataset', 'mnist', '--cache-views', '2'],
    expect: /flags: cache\.views: needs data\.augment/,
  },
  {
    name: 'bad augment field in the config',
    args: [...base, '--config', tmp.file('aug.yaml', 'model:\n  name: cnn-small\ndata:\n  dataset: mnist\n  augment:\n    crop: -1\n')],
    expect: /aug\.yaml: data\.augment\.crop: .*>=0.*got -1/,
  },
  { name: 'unknown flag', args: ['train', '--modle', 'mlp'], expect: /^permafrost: unknown option '--modle' \(Did you mean --model\?\)/ },
  { name: 'missing config file', args: ['train', '--config', join(tmp.path, 'none.yaml')], expect: /none\.yaml: config file not found/ },
];

describe('bad input exits 2 with one line and no stack trace', () => {
  // The cases are independent processes: run them side by side to keep the suite short.
  const results = Promise.all(cases.map((c) => runCli(c.args, { timeoutMs: 60_000 })));
  cases.forEach((c, i) => {
    it(c.name, async () => {
      const r = (await results)[i];
      assert.ok(r);
      assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
      const lines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{'));
      assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
      assert.match(lines[0] ?? '', c.expect);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  });
});
