import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '@permafrost/telemetry';
import { Command } from 'commander';
import { addJobFlags, jobOverrides } from './job-flags';

function parse(args: string[]) {
  const cmd = addJobFlags(new Command('train').exitOverride());
  cmd.parse(args, { from: 'user' });
  return jobOverrides(cmd.opts());
}

describe('job flags', () => {
  it('map to dotted job-spec paths with typed values', () => {
    const o = parse([
      '--model',
      'mobilenet_v2',
      '--input-size',
      '96',
      '--lr',
      '0.01',
      '--nesterov',
      '--random-init',
      '--trainable-last',
      '3',
    ]);
    assert.deepEqual(o, {
      'model.name': 'mobilenet_v2',
      'model.inputSize': 96,
      'model.pretrained': false,
      'freeze.trainableLast': 3,
      'train.lr': 0.01,
      'train.nesterov': true,
    });
  });

  it('leave the schema to judge ranges but reject non-numbers against the flag', () => {
    assert.deepEqual(parse(['--batch-size', '-4']), { 'train.batchSize': -4 });
    assert.throws(
      () => parse(['--epochs', 'three']),
      (e: unknown) => e instanceof UserError && e.message === "--epochs: expected an integer, got 'three'",
    );
    assert.throws(() => parse(['--epochs', '1.5']), /expected an integer/);
    assert.throws(() => parse(['--lr', 'fast']), /--lr: expected a number/);
  });

  it('set augmentation and cache views', () => {
    assert.deepEqual(parse(['--augment']), { 'data.augment': {} });
    assert.deepEqual(parse(['--augment', '--augment-crop', '2', '--no-augment-flip', '--feature-noise', '0.05', '--cache-views', '2']), {
      'data.augment': {},
      'data.augment.crop': 2,
      'data.augment.flip': false,
      'data.augment.featureNoise': 0.05,
      'cache.views': 2,
    });
    assert.deepEqual(parse(['--augment-brightness', '0.2', '--augment-contrast', '0']), {
      'data.augment.brightness': 0.2,
      'data.augment.contrast': 0,
    });
    assert.deepEqual(parse(['--feature-dropout', '0.2']), { 'data.augment.featureDropout': 0.2 });
    assert.throws(() => parse(['--cache-views', 'two']), /--cache-views: expected an integer/);
    assert.throws(() => parse(['--feature-dropout', 'half']), /--feature-dropout: expected a number/);
  });

  it("take a thread count or 'auto'", () => {
    assert.deepEqual(parse(['--threads', 'auto']), { 'train.threads': 'auto' });
    assert.deepEqual(parse(['--threads', '2']), { 'train.threads': 2 });
    assert.throws(
      () => parse(['--threads', 'all']),
      (e: unknown) => e instanceof UserError && e.message === "--threads: expected an integer or 'auto', got 'all'",
    );
  });
});
